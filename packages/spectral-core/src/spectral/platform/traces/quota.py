"""The ingest quota: spans per second per WORKSPACE, with a burst (a token bucket).

Every span a request carries (accepted or rejected, at least one per request) takes a token from
its workspace's bucket, whichever key or user sent it, so minting more keys buys no more quota.
The bucket holds `burst` tokens and refills at `rate` per second. A request is admitted when the
bucket holds at least its span count, or is full and the request is larger than the burst (a
single batch larger than the burst must not be refused forever); the bucket may then run into
debt, which later requests wait out. A refused request takes nothing and is answered 429 with the
seconds after which it would fit (`Retry-After`), which OTLP exporters honour.

Two backends: Redis (one atomic Lua script, Redis' own clock, shared by every API and ingest
process) and memory (the embedded single process).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

from spectral.platform.shared.errors import RateLimitedError


class SpanQuota(Protocol):
    rate: float
    burst: int

    async def take(self, workspace_id: uuid.UUID, spans: int) -> None:
        """Take `spans` tokens from the workspace's bucket or raise `RateLimitedError`."""
        ...


def _exceeded(workspace_id: uuid.UUID, spans: int, rate: float, wait_seconds: float) -> RateLimitedError:
    return RateLimitedError(
        f"Workspace {workspace_id} is over its ingest quota of {rate:g} spans/s; "
        f"this request of {spans} spans fits in {wait_seconds:.1f} s",
        retry_after=math.ceil(wait_seconds),
    )


def _admit(tokens: float, spans: int, burst: int) -> bool:
    return tokens >= min(spans, burst)


class InMemorySpanQuota:
    """Buckets of one process: the embedded default."""

    _PRUNE_AT = 10_000

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        # workspace -> (tokens, time of that count)
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}

    async def take(self, workspace_id: uuid.UUID, spans: int) -> None:
        now = self._clock()
        tokens, at = self._buckets.get(workspace_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if not _admit(tokens, spans, self.burst):
            self._buckets[workspace_id] = (tokens, now)
            raise _exceeded(workspace_id, spans, self.rate, (min(spans, self.burst) - tokens) / self.rate)
        self._buckets[workspace_id] = (tokens - spans, now)
        if len(self._buckets) > self._PRUNE_AT:
            self._prune(now)

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely is the same as no bucket.
        full_after = self.burst / self.rate
        for stale in [ws for ws, (_, at) in self._buckets.items() if now - at >= full_after]:
            del self._buckets[stale]


# KEYS[1] bucket; ARGV rate (tokens/s), burst, spans. Returns {admitted (0/1), wait in ms}.
# Time is Redis' own, so every process shares one clock; the key expires once the bucket would be
# full again, so idle workspaces cost no memory.
_TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local spans = tonumber(ARGV[3])
-- Until the bucket is full again (then it is the same as no key), at most a week; as a string
-- of digits, which PEXPIRE needs (a large Lua number would be sent as 1e+14).
local function ttl(tokens)
  local ms = math.min(math.ceil((burst - tokens) * 1000 / rate) + 1000, 604800000)
  return string.format('%d', ms)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local need = math.min(spans, burst)
if tokens < need then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], ttl(tokens))
  return {0, math.ceil((need - tokens) * 1000 / rate)}
end
tokens = tokens - spans
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], ttl(tokens))
return {1, 0}
"""


class RedisSpanQuota:
    """Buckets shared by every process of a deployment."""

    def __init__(self, redis: Redis, *, prefix: str, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._prefix = f"{prefix}:ingest-quota:"
        self._script = redis.register_script(_TAKE_SCRIPT)

    def key(self, workspace_id: uuid.UUID) -> str:
        return self._prefix + str(workspace_id)

    async def take(self, workspace_id: uuid.UUID, spans: int) -> None:
        admitted, wait_ms = await self._script(
            keys=[self.key(workspace_id)], args=[repr(float(self.rate)), self.burst, spans]
        )
        if not int(admitted):
            raise _exceeded(workspace_id, spans, self.rate, int(wait_ms) / 1000)


def spans_of(received: int) -> int:
    """What a request costs: its spans, and at least one (an empty request is still a request)."""
    return max(1, received)
