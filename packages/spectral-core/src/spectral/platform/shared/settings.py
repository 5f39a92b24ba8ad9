"""Settings: one flat `SPECTRAL_` namespace, built in each app's composition root.

The embedded default needs no configuration at all: a SQLite file and a generated JWT secret
under `SPECTRAL_DATA_DIR`. `SPECTRAL_ENV=production` refuses to start on that default.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from spectral.platform.shared.private_files import create_private_file, private_directory

PLACEHOLDER_SECRET_PREFIX = "change-me"  # infra/spectral.env.example's, which must never reach production
MIN_SECRET_LENGTH = 32
# (time_cost, memory_kib): OWASP's minimum for argon2id; nothing below it runs outside tests.
ARGON2_MINIMUM_PARAMETERS = (2, 19 * 1024)
# (time_cost, memory_kib, parallelism): the cheap set the test environment hashes with.
ARGON2_TEST_PARAMETERS = (1, 64, 1)


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
    # PostgreSQL connections per process: kept open (no connection churn under load) and never
    # pinged at checkout. Past the pool, `db_max_overflow` more are opened and closed on return;
    # at 0 a request waits for a free connection. max_connections must cover every process's pool.
    db_pool_size: int = Field(default=20, ge=1, le=1000)
    db_max_overflow: int = Field(default=0, ge=0, le=1000)
    # Connections older than this are replaced (idle timeouts of proxies and firewalls on the way).
    db_pool_recycle_s: int = Field(default=1800, ge=1)
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
    # Processes of the ingest service (uvicorn workers sharing its port); see README "Production".
    ingest_workers: int = Field(default=1, ge=1, le=64)
    public_url: str = "http://127.0.0.1:8000"

    log_level: str = "INFO"
    log_json: bool = True
    metrics: Literal["off", "loopback", "token"] = Field(
        default="loopback",
        description="/metrics: off (404), loopback (only 127.0.0.1/::1 may read it) or token (SPECTRAL_METRICS_TOKEN as a bearer token)",
    )
    metrics_token: SecretStr | None = None
    # The worker has no HTTP server of its own: it opens this listener for /metrics alone (same
    # SPECTRAL_METRICS rules); 0, or SPECTRAL_METRICS=off, opens none.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)

    max_request_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Every JSON body (413 past it, counted as it streams in); JSONL import and OTLP have their own.
    max_json_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Interactive docs (/docs, /redoc); the OpenAPI document itself is always served.
    docs_enabled: bool = True
    otlp_max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Trace writes in flight per process; past it a request waits this long, then gets 503.
    ingest_max_concurrent_writes: int = Field(default=8, ge=1)
    ingest_write_wait_seconds: float = Field(default=2.0, ge=0.0)
    # Ingest quota per workspace (token bucket over spans; see docs/security.md). An OTel
    # BatchSpanProcessor exports at most 512 spans every 5 s per process: 100 agent processes
    # flushing at once send ~51k spans, and ~10k spans/s when every one of them is saturated.
    ingest_spans_per_second: float = Field(default=10_000.0, gt=0)
    ingest_span_burst: int = Field(default=60_000, ge=1)
    # Trace retention (see traces/retention.py): unset keeps traces forever.
    trace_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="days a trace is kept after the day it started; unset keeps traces forever",
    )
    # Login throttling (see identity/login_throttle.py): attempts per (email, client address),
    # attempts per client address across emails, and the global ceiling of failed logins past
    # which an address that has failed waits out its window.
    rate_limit_login_per_minute: int = Field(default=10, ge=1)
    rate_limit_login_per_source_per_minute: int = Field(default=30, ge=1)
    rate_limit_login_global_failures_per_minute: int = Field(default=300, ge=1)
    # Reverse proxies whose X-Forwarded-For is believed (CIDRs, comma-separated or a JSON list).
    # Unset = the TCP peer is the client; every address-based rate limit uses this.
    trusted_proxies: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default_factory=list
    )
    rate_limit_api_per_minute: int = Field(default=600, ge=1)
    # Prefix of every Redis key this deployment writes (rate limits, revoked tokens), so several
    # deployments (or test runs) can share one Redis without seeing each other's keys.
    redis_key_prefix: str = "spectral"

    # argon2id cost. Unset = argon2-cffi's RFC 9106 low-memory profile (t=3, m=64 MiB, p=4); only
    # the test environment falls back to a cheap set, and nothing below OWASP's minimum
    # (t=2, m=19 MiB) runs outside tests. Hashes made with other parameters are redone at login.
    argon2_time_cost: int | None = Field(default=None, ge=1)
    argon2_memory_kib: int | None = Field(default=None, ge=8)
    argon2_parallelism: int | None = Field(default=None, ge=1)

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
    # Scoring a request asks for (a rubric's blind spots, a drafted rubric) runs on threads of its
    # own, never on the event loop, and stops with a 503 past the time limit.
    scoring_threads: int = Field(default=2, ge=1, le=64)
    scoring_time_limit_s: float = Field(default=10.0, gt=0, le=600)
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

    assistant_model: str | None = Field(
        default=None, description="model of the built-in assistant; unset = the proposer model, else offline"
    )
    assistant_token_budget: int = Field(
        default=200_000, ge=1000, description="model tokens (in + out) one assistant conversation may spend"
    )
    assistant_tool_result_chars: int = Field(
        default=6000,
        ge=200,
        description="a tool result longer than this is truncated before the model sees it",
    )
    assistant_approval_ttl_minutes: int = Field(
        default=24 * 60, ge=1, description="how long an assistant's proposed action can be approved"
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

    def argon2_overrides(self) -> dict[str, int]:
        """The argon2 parameters that differ from the hashing profile's (argon2-cffi names)."""
        names = ("time_cost", "memory_cost", "parallelism")
        values = (self.argon2_time_cost, self.argon2_memory_kib, self.argon2_parallelism)
        defaults = ARGON2_TEST_PARAMETERS if self.env is Environment.TEST else (None, None, None)
        chosen = {
            name: value if value is not None else default
            for name, value, default in zip(names, values, defaults, strict=True)
        }
        return {name: value for name, value in chosen.items() if value is not None}

    @field_validator("database_url")
    @classmethod
    def _a_database_spectral_runs_on(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql", "postgres://", "sqlite")):
            raise ValueError(
                "Spectral runs on PostgreSQL (postgresql+psycopg://user:pass@host:5432/db) or SQLite "
                "(sqlite:///path/spectral.db)"
            )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _argon2_at_least_the_minimum(self) -> Self:
        if self.env is Environment.TEST:
            return self
        min_time, min_memory = ARGON2_MINIMUM_PARAMETERS
        time_cost, memory_kib = self.argon2_time_cost, self.argon2_memory_kib
        if (time_cost is not None and time_cost < min_time) or (
            memory_kib is not None and memory_kib < min_memory
        ):
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
        elif self.jwt_secret.get_secret_value().startswith(PLACEHOLDER_SECRET_PREFIX):
            problems.append("SPECTRAL_JWT_SECRET is still the example's placeholder: generate a real one")
        if problems:
            raise SettingsError("production mode refuses to start: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _metrics_token_when_asked_for(self) -> Self:
        if self.metrics == "token" and (
            self.metrics_token is None or len(self.metrics_token.get_secret_value()) < 16
        ):
            raise SettingsError(
                "SPECTRAL_METRICS=token needs SPECTRAL_METRICS_TOKEN (at least 16 characters)"
            )
        return self

    def jwt_secret_value(self) -> str:
        """The signing secret; in embedded mode generated once and kept under the data directory."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        private_directory(self.data_dir)
        secret = secrets.token_urlsafe(48)
        # Exclusive create: two processes starting together agree on whichever secret was
        # written first; the file is 0600 from its first byte, never chmod-ed after the fact.
        try:
            create_private_file(path, secret)
        except FileExistsError:
            return path.read_text().strip()
        self.jwt_secret = SecretStr(secret)
        return secret


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment; composition roots call this, libraries never do."""
    return Settings(**overrides)
