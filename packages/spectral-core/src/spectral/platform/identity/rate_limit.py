"""Fixed-window rate limits: Redis when configured (shared by every API process), in memory
otherwise (the embedded single process)."""

from __future__ import annotations

import math
import time
from typing import Protocol

from redis.asyncio import Redis

from spectral.platform.shared.errors import RateLimitedError

WINDOW_SECONDS = 60


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window: int = WINDOW_SECONDS) -> None:
        """Count one attempt under `key`; raise `RateLimitedError` once `limit` is exceeded."""
        ...


def _limited(retry_after: float) -> RateLimitedError:
    return RateLimitedError("Too many requests; try again later", retry_after=math.ceil(retry_after))


class InMemoryRateLimiter:
    _PRUNE_AT = 10_000

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, *, limit: int, window: int = WINDOW_SECONDS) -> None:
        now = time.monotonic()
        started, count = self._windows.get(key, (now, 0))
        if now - started >= window:
            started, count = now, 0
        count += 1
        self._windows[key] = (started, count)
        if len(self._windows) > self._PRUNE_AT:
            self._prune(now, window)
        if count > limit:
            raise _limited(started + window - now)

    def _prune(self, now: float, window: int) -> None:
        for stale in [k for k, (started, _) in self._windows.items() if now - started >= window]:
            del self._windows[stale]


class RedisRateLimiter:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:ratelimit:"

    async def hit(self, key: str, *, limit: int, window: int = WINDOW_SECONDS) -> None:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            # NX: only the first hit of a window starts its clock.
            pipe.set(name, 0, ex=window, nx=True)
            pipe.incr(name)
            pipe.pttl(name)
            _, count, ttl_ms = await pipe.execute()
        if int(count) > limit:
            raise _limited(max(int(ttl_ms), 1000) / 1000)
