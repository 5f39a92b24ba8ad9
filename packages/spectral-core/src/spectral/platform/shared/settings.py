"""Settings: one flat `SPECTRAL_` namespace, built in each app's composition root.

The embedded default needs no configuration at all: a SQLite file and a generated JWT secret
under `SPECTRAL_DATA_DIR`. `SPECTRAL_ENV=production` refuses to start on that default.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32
# (time_cost, memory_kib): OWASP's minimum for argon2id; tests hash with a cheap set instead.
ARGON2_MINIMUM_PARAMETERS = (2, 19 * 1024)
ARGON2_TEST_PARAMETERS = (1, 64)


class Environment(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"
    TEST = "test"


class LLMProvider(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"


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
    # Trace writes in flight per process; past it a request waits this long, then gets 503.
    ingest_max_concurrent_writes: int = Field(default=8, ge=1)
    ingest_write_wait_seconds: float = Field(default=2.0, ge=0.0)
    rate_limit_login_per_minute: int = Field(default=10, ge=1)
    rate_limit_api_per_minute: int = Field(default=600, ge=1)
    # Prefix of every Redis key this deployment writes (rate limits, revoked tokens), so several
    # deployments (or test runs) can share one Redis without seeing each other's keys.
    redis_key_prefix: str = "spectral"

    # argon2id cost. Unset = OWASP's recommended minimum (m=19 MiB, t=2, p=1); only the test
    # environment falls back to a cheap set, and nothing below the minimum runs outside tests.
    argon2_time_cost: int | None = Field(default=None, ge=1)
    argon2_memory_kib: int | None = Field(default=None, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)

    # OAuth / OIDC sign-in; a provider is offered when its client id and secret are set.
    oauth_redirect_url: str | None = Field(
        default=None, description="where providers send the browser back; unset = {public_url}/auth/callback"
    )
    oauth_github_client_id: str | None = None
    oauth_github_client_secret: SecretStr | None = None
    oauth_google_client_id: str | None = None
    oauth_google_client_secret: SecretStr | None = None
    oidc_issuer_url: str | None = Field(default=None, description="generic OIDC provider (discovery)")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None

    smtp_url: str | None = None
    mail_from: str = "Spectral <no-reply@spectral.local>"

    replay_allow_private: bool = False
    # A running scan whose heartbeat (every 10 s) is older than this lost its worker.
    scan_stale_after_s: int = Field(default=120, ge=1)
    # The hour (UTC) of the supervisor's nightly round in workspaces at `suggest` or `auto_apply`.
    nightly_hour_utc: int = Field(default=2, ge=0, le=23)

    # The model gateway (LLM judge, reflective rewrites). No provider = no gateway: scans run
    # offline with zero model calls, never against a fake.
    llm_provider: LLMProvider | None = Field(
        default=None, description="openai (any OpenAI-compatible API) or anthropic"
    )
    llm_base_url: str | None = Field(
        default=None,
        description="openai: the API root with its /v1 (vLLM, Ollama, LiteLLM); anthropic: the host; unset = the vendor's public API",
    )
    llm_api_key: SecretStr | None = None
    llm_judge_model: str | None = Field(default=None, description="default model of llm_judge dimensions")
    llm_proposer_model: str | None = Field(default=None, description="default model of reflective rewrites")
    llm_timeout_s: float = Field(default=60.0, gt=0, description="per attempt, reading the whole response")
    llm_connect_timeout_s: float = Field(default=10.0, gt=0)
    llm_max_retries: int = Field(
        default=3, ge=0, le=10, description="retries of 429, 5xx, timeouts, connect errors"
    )
    llm_backoff_base_s: float = Field(default=0.5, ge=0)
    llm_backoff_max_s: float = Field(
        default=30.0, ge=0, description="longest wait between attempts; a longer Retry-After gives up"
    )
    llm_circuit_failures: int = Field(
        default=5, ge=1, description="consecutive failed calls that open a model's circuit"
    )
    llm_openai_max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens", description="OpenAI's o-series and newer models want max_completion_tokens"
    )
    llm_cache_days: int = Field(
        default=30, ge=1, description="how long a cached model answer is reused (a re-run scan costs nothing)"
    )
    llm_circuit_cooldown_s: float = Field(
        default=30.0, gt=0, description="open circuit: wait before one probe call"
    )

    # Online scoring: traces of agents with an online rubric are scored by the worker after ingest.
    online_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="traces scored per batch by online scoring and rescore"
    )
    online_judge_daily_budget_usd: float = Field(
        default=1.0, ge=0, description="per workspace and UTC day: llm_judge spend of online scoring"
    )
    quality_drop_window_hours: int = Field(
        default=24, ge=1, le=24 * 14, description="recent window the supervisor compares to the week before"
    )
    quality_drop_threshold: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="mean quality drop (0..1) that makes the supervisor propose a scan",
    )
    quality_drop_min_traces: int = Field(
        default=20, ge=1, description="scored traces each window needs before a drop counts"
    )
    scan_queue_name: str = "spectral:scans"
    default_queue_name: str = "spectral:default"

    @property
    def queue_names(self) -> dict[str, str]:
        """Logical queue -> Redis key (see `shared.queue`)."""
        return {"default": self.default_queue_name, "scans": self.scan_queue_name}

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

    def argon2_parameters(self) -> tuple[int, int, int]:
        """(time_cost, memory_kib, parallelism) for password hashing."""
        if self.env is Environment.TEST:
            default_time, default_memory = ARGON2_TEST_PARAMETERS
        else:
            default_time, default_memory = ARGON2_MINIMUM_PARAMETERS
        return (
            self.argon2_time_cost or default_time,
            self.argon2_memory_kib or default_memory,
            self.argon2_parallelism,
        )

    @model_validator(mode="after")
    def _argon2_at_least_the_minimum(self) -> Self:
        if self.env is Environment.TEST:
            return self
        time_cost, memory_kib, _ = self.argon2_parameters()
        min_time, min_memory = ARGON2_MINIMUM_PARAMETERS
        if time_cost < min_time or memory_kib < min_memory:
            raise SettingsError(
                f"argon2 parameters below the minimum (time_cost>={min_time}, memory_kib>={min_memory})"
            )
        return self

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
