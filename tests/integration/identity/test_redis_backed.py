"""With Redis configured, revoked tokens and rate limits live there (shared by every API process).
Runs against the real Redis under a key prefix of its own; only that prefix is ever deleted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from fixtures_identity import Tenant
from spectral.platform.identity.rate_limit import RedisRateLimiter
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Settings
from spectral_api.app import create_app
from spectral_api.state import AppState
from testenv import REDIS_URL

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis(run_id: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis, run_id: str) -> AsyncIterator[str]:
    value = f"spectral-test:{run_id}:{uuid.uuid4().hex[:8]}"
    yield value
    keys = [key async for key in redis.scan_iter(match=f"{value}:*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def app(settings: Settings, db: Database, queue: InProcessQueue, redis: Redis, prefix: str) -> FastAPI:
    settings.redis_key_prefix = prefix
    settings.rate_limit_api_per_minute = 5
    return create_app(settings, state=AppState(settings=settings, db=db, queue=queue, redis=redis))


async def test_logout_is_remembered_in_redis_until_expiry(
    client: httpx.AsyncClient, tenant: Tenant, redis: Redis, prefix: str
) -> None:
    assert isinstance(tenant.state.rate_limiter, RedisRateLimiter)
    assert (await client.post("/api/v1/auth/logout", headers=tenant.headers)).status_code == 204
    [key] = [k async for k in redis.scan_iter(match=f"{prefix}:revoked-jti:*")]
    assert 3500 < await redis.ttl(key) <= 3601
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 401


async def test_login_brute_force_is_limited_through_redis(
    client: httpx.AsyncClient, tenant: Tenant, redis: Redis, prefix: str
) -> None:
    statuses = [
        (
            await client.post("/api/v1/auth/login", json={"email": tenant.email, "password": "nope-nope"})
        ).status_code
        for _ in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    keys = sorted([key.decode() async for key in redis.scan_iter(match=f"{prefix}:ratelimit:login:*")])
    assert [key.split(":ratelimit:", 1)[1].rsplit(":", 1)[0] for key in keys] == [
        "login:failed",
        "login",
        "login:pair:127.0.0.1",
        "login:source",
    ]
    # The counters never hold the address people sign in with, only its digest.
    assert not any(tenant.email in key for key in keys)


async def test_api_calls_are_limited_per_principal(client: httpx.AsyncClient, tenant: Tenant) -> None:
    statuses = [(await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = await client.get("/api/v1/auth/me", headers=tenant.headers)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
