"""What the API process holds for its lifetime: settings, the database, the queue and the
security services built from the settings (password hashing, token codec, rate limits)."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from spectral.platform.agents.service import DirectoryCache, RuntimeCache
from spectral.platform.evaluations.scoring_pool import ScoringPool
from spectral.platform.identity.access import KeyCache, UserCache
from spectral.platform.identity.login_throttle import LoginLimits, LoginThrottle
from spectral.platform.identity.passwords import Passwords
from spectral.platform.identity.rate_limit import InMemoryRateLimiter, RateLimiter, RedisRateLimiter
from spectral.platform.identity.tokens import TokenCodec
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import JobQueue
from spectral.platform.shared.settings import Settings
from spectral.platform.traces.ingest_gate import IngestGate
from spectral.platform.traces.quota import InMemorySpanQuota, RedisSpanQuota, SpanQuota
from spectral.platform.traces.retention import TraceRetention

# Entries per cache and process: an entry is a few hundred bytes (a key's or a token's grant) to a
# config's size.
READ_CACHE_ENTRIES = 10_000


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    queue: JobQueue
    # Rate limits and revoked tokens live here when Redis is configured (shared by every process).
    redis: Redis | None = None
    passwords: Passwords = field(init=False)
    tokens: TokenCodec = field(init=False)
    rate_limiter: RateLimiter = field(init=False)
    login_throttle: LoginThrottle = field(init=False)
    ingest_gate: IngestGate = field(init=False)
    trace_retention: TraceRetention = field(init=False)
    scoring: ScoringPool = field(init=False)
    ingest_quota: SpanQuota = field(init=False)
    # Hot reads cached in this process, invalidated through `db.generations` (shared.read_cache).
    key_cache: KeyCache = field(init=False)
    user_cache: UserCache = field(init=False)
    runtime_cache: RuntimeCache = field(init=False)
    agent_directories: DirectoryCache = field(init=False)

    def __post_init__(self) -> None:
        self.key_cache = KeyCache(self.db.generations, max_entries=READ_CACHE_ENTRIES)
        self.user_cache = UserCache(self.db.generations, max_entries=READ_CACHE_ENTRIES)
        self.runtime_cache = RuntimeCache(self.db.generations, max_entries=READ_CACHE_ENTRIES)
        self.agent_directories = DirectoryCache(self.db.generations, max_entries=READ_CACHE_ENTRIES)
        self.passwords = Passwords.from_settings(self.settings)
        self.tokens = TokenCodec.from_settings(self.settings)
        self.rate_limiter = (
            RedisRateLimiter(self.redis, prefix=self.settings.redis_key_prefix)
            if self.redis is not None
            else InMemoryRateLimiter()
        )
        self.login_throttle = LoginThrottle(
            self.rate_limiter,
            LoginLimits(
                per_account_source=self.settings.rate_limit_login_per_minute,
                per_source=self.settings.rate_limit_login_per_source_per_minute,
                global_failures=self.settings.rate_limit_login_global_failures_per_minute,
            ),
        )
        rate, burst = self.settings.ingest_spans_per_second, self.settings.ingest_span_burst
        self.ingest_quota = (
            RedisSpanQuota(self.redis, prefix=self.settings.redis_key_prefix, rate=rate, burst=burst)
            if self.redis is not None
            else InMemorySpanQuota(rate=rate, burst=burst)
        )
        self.ingest_gate = IngestGate(
            self.settings.ingest_max_concurrent_writes, wait_seconds=self.settings.ingest_write_wait_seconds
        )
        self.trace_retention = TraceRetention(self.settings.trace_retention_days)
        self.scoring = ScoringPool(
            threads=self.settings.scoring_threads, time_limit_s=self.settings.scoring_time_limit_s
        )
