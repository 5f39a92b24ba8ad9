"""Settings: one flat `SPECTRAL_` namespace, built in each app's composition root.

The embedded default needs no configuration at all: a SQLite file and a generated JWT secret
under `SPECTRAL_DATA_DIR`. `SPECTRAL_ENV=production` refuses to start on that default.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"
    TEST = "test"


class SettingsError(RuntimeError):
    """The configuration cannot run in the requested environment."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPECTRAL_", extra="ignore")

    env: Environment = Environment.EMBEDDED
    data_dir: Path = Path(".spectral")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset = SQLite file in the data directory"
    )
    redis_url: str | None = Field(default=None, description="unset = in-process queue")
    jwt_secret: SecretStr | None = Field(
        default=None, description="unset in embedded mode = generated once under the data directory"
    )
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "spectral"
    jwt_audience: str = "spectral-api"
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    ingest_host: str = "127.0.0.1"
    ingest_port: int = Field(default=4318, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8000"

    log_level: str = "INFO"
    log_json: bool = True

    max_request_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    otlp_max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    rate_limit_login_per_minute: int = Field(default=10, ge=1)
    rate_limit_api_per_minute: int = Field(default=600, ge=1)

    smtp_url: str | None = None
    mail_from: str = "Spectral <no-reply@spectral.local>"

    replay_allow_private: bool = False
    scan_queue_name: str = "spectral:scans"
    default_queue_name: str = "spectral:default"

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'spectral.db').resolve()}"

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @model_validator(mode="after")
    def _production_needs_real_services(self) -> Self:
        if not self.is_production:
            return self
        problems = []
        if self.database_url is None or self.database_url.startswith("sqlite"):
            problems.append("SPECTRAL_DATABASE_URL must point at PostgreSQL")
        if self.redis_url is None:
            problems.append("SPECTRAL_REDIS_URL must be set")
        if self.jwt_secret is None or len(self.jwt_secret.get_secret_value()) < MIN_SECRET_LENGTH:
            problems.append(f"SPECTRAL_JWT_SECRET must be set (at least {MIN_SECRET_LENGTH} characters)")
        if problems:
            raise SettingsError("production mode refuses to start: " + "; ".join(problems))
        return self

    def jwt_secret_value(self) -> str:
        """The signing secret; in embedded mode generated once and kept under the data directory."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting together agree on whichever secret was written first.
        try:
            with path.open("x") as fh:
                fh.write(secret)
            path.chmod(0o600)
        except FileExistsError:
            return path.read_text().strip()
        self.jwt_secret = SecretStr(secret)
        return secret


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment; composition roots call this, libraries never do."""
    return Settings(**overrides)
