"""Fixed-window counters for rate limits: Redis when configured (shared by every API process), in
memory otherwise (the embedded single process).

`hit` counts one request and refuses past a limit (the API's per-principal limit). The login
throttle (`login_throttle.py`) also needs to read a counter without counting, count without
refusing, and forget a counter; every backend offers those four operations on the same windows.
A window starts at its first count and is never extended by later ones, so hammering a limited
key does not push its end further away.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from redis.asyncio import Redis

from spectral.platform.shared.errors import RateLimitedError

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class WindowCount:
    count: int
    # Seconds until the window ends (0 when there is no open window).
    retry_after: float


def limited(detail: str, retry_after: float) -> RateLimitedError:
    return RateLimitedError(detail, retry_after=math.ceil(retry_after))


class RateLimiter(ABC):
    @abstractmethod
    async def add(self, key: str, *, window: int = WINDOW_SECONDS) -> WindowCount:
        """Count one event under `key` and return the window's count including it."""

    @abstractmethod
    async def peek(self, key: str) -> WindowCount:
        """The window's count without counting anything."""

    @abstractmethod
    async def reset(self, key: str) -> None:
        """Forget the window of `key`."""

    async def hit(self, key: str, *, limit: int, window: int = WINDOW_SECONDS) -> None:
        """Count one attempt under `key`; raise `RateLimitedError` once `limit` is exceeded."""
        current = await self.add(key, window=window)
        if current.count > limit:
            raise limited("Too many requests; try again later", current.retry_after)


class InMemoryRateLimiter(RateLimiter):
    _PRUNE_AT = 10_000

    def __init__(self) -> None:
        # key -> (window end on the monotonic clock, count)
        self._windows: dict[str, tuple[float, int]] = {}

    def _open(self, key: str, now: float) -> tuple[float, int] | None:
        entry = self._windows.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry

    async def add(self, key: str, *, window: int = WINDOW_SECONDS) -> WindowCount:
        now = time.monotonic()
        ends, count = self._open(key, now) or (now + window, 0)
        count += 1
        self._windows[key] = (ends, count)
        if len(self._windows) > self._PRUNE_AT:
            self._prune(now)
        return WindowCount(count, ends - now)

    async def peek(self, key: str) -> WindowCount:
        now = time.monotonic()
        entry = self._open(key, now)
        return WindowCount(0, 0.0) if entry is None else WindowCount(entry[1], entry[0] - now)

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def _prune(self, now: float) -> None:
        for stale in [k for k, (ends, _) in self._windows.items() if ends <= now]:
            del self._windows[stale]


class RedisRateLimiter(RateLimiter):
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:ratelimit:"

    async def add(self, key: str, *, window: int = WINDOW_SECONDS) -> WindowCount:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            # NX: only the first count of a window starts its clock.
            pipe.set(name, 0, ex=window, nx=True)
            pipe.incr(name)
            pipe.pttl(name)
            _, count, ttl_ms = await pipe.execute()
        return WindowCount(int(count), max(int(ttl_ms), 1000) / 1000)

    async def peek(self, key: str) -> WindowCount:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(name)
            pipe.pttl(name)
            count, ttl_ms = await pipe.execute()
        if count is None:
            return WindowCount(0, 0.0)
        return WindowCount(int(count), max(int(ttl_ms), 1000) / 1000)

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
