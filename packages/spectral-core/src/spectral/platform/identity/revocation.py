"""Logged-out tokens: their `jti` is remembered until the token would have expired anyway.
Redis when configured (a key with that TTL), the database otherwise."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.shared.clock import as_utc, utcnow


class RevokedTokens(Protocol):
    async def revoke(self, jti: str, expires_at: datetime) -> None: ...

    async def is_revoked(self, jti: str) -> bool: ...


class RedisRevokedTokens:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:revoked-jti:"

    async def revoke(self, jti: str, expires_at: datetime) -> None:
        ttl = int((as_utc(expires_at) - utcnow()).total_seconds()) + 1
        if ttl > 0:
            await self._redis.set(self._prefix + jti, 1, ex=ttl)

    async def is_revoked(self, jti: str) -> bool:
        return bool(await self._redis.exists(self._prefix + jti))


class DatabaseRevokedTokens:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def revoke(self, jti: str, expires_at: datetime) -> None:
        await repository.revoke_token(self._session, jti, expires_at)

    async def is_revoked(self, jti: str) -> bool:
        return await repository.is_token_revoked(self._session, jti)
