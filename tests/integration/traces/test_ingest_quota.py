"""The ingest quota is per workspace and counts spans (a token bucket with a burst), on both
limiter backends: memory (embedded) and Redis (production, shared by every process). Over the
quota the answer is 429 + Retry-After and nothing of the request is stored; the per-principal API
rate limit no longer applies to span writes but still does to every other route."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func
from sqlmodel import select

from fixtures_identity import Tenant
from integration.traces.otlp_payloads import request, span, trace_id
from spectral.platform.identity.scopes import Scope
from spectral.platform.shared.db import Database
from spectral.platform.shared.errors import RateLimitedError
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Settings
from spectral.platform.traces.models import Span
from spectral.platform.traces.quota import InMemorySpanQuota, RedisSpanQuota
from spectral_api.app import create_app
from spectral_api.state import AppState
from testenv import REDIS_URL

OTLP = "/otel/v1/traces"
BURST = 10
# So slow that no test ever sees a refill: a refused request would fit only minutes later.
RATE = 0.01
PER_PRINCIPAL = 4


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def redis(
    request: pytest.FixtureRequest, settings: Settings, run_id: str
) -> AsyncIterator[Redis | None]:
    """No Redis (the memory backend) or the real Redis under a key prefix of this test's own."""
    if request.param == "memory":
        yield None
        return
    client = Redis.from_url(REDIS_URL)
    settings.redis_key_prefix = prefix = f"spectral-test:{run_id}:{uuid.uuid4().hex[:8]}"
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def app(settings: Settings, db: Database, queue: InProcessQueue, redis: Redis | None) -> FastAPI:
    settings.ingest_spans_per_second = RATE
    settings.ingest_span_burst = BURST
    settings.rate_limit_api_per_minute = PER_PRINCIPAL
    return create_app(settings, state=AppState(settings=settings, db=db, queue=queue, redis=redis))


def native(count: int, trace: str | None = None) -> dict[str, Any]:
    trace = trace or trace_id()
    return {
        "spans": [
            {
                "trace_id": trace,
                "span_id": f"{index + 1:016x}",
                "name": "step",
                "start_time_unix_nano": 1_700_000_000_000_000_000,
                "end_time_unix_nano": 1_700_000_000_500_000_000,
            }
            for index in range(count)
        ]
    }


def otlp(count: int) -> dict[str, Any]:
    trace = trace_id()
    return request([span(trace) for _ in range(count)])


async def stored_spans(db: Database, workspace_id: uuid.UUID) -> int:
    async with db.session() as session:
        statement = select(func.count()).select_from(Span).where(Span.workspace_id == workspace_id)
        return int((await session.exec(statement)).one())


def assert_over_quota(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


async def test_the_backend_follows_the_configuration(tenant: Tenant, redis: Redis | None) -> None:
    expected = InMemorySpanQuota if redis is None else RedisSpanQuota
    assert isinstance(tenant.state.ingest_quota, expected)


async def test_the_quota_counts_spans_not_requests(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.WRITE_TRACES])}"}
    # One request of exactly the burst fits ...
    full = await client.post(f"{tenant.ws}/traces", json=native(BURST), headers=key)
    assert full.status_code == 200, full.text
    assert full.json()["accepted"] == BURST
    # ... and the very next span does not, though it is only the second request.
    refused = await client.post(f"{tenant.ws}/traces", json=native(1), headers=key)
    retry_after = assert_over_quota(refused)
    # One span at 0.01 spans/s: about 100 s from now, not a fixed-window minute.
    assert 60 < retry_after <= 100
    assert await stored_spans(db, tenant.workspace_id) == BURST


async def test_a_second_key_or_a_user_does_not_bypass_the_workspace_quota(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    first = {"Authorization": f"Bearer {await tenant.api_key([Scope.WRITE_TRACES], name='first')}"}
    assert (await client.post(OTLP, json=otlp(BURST), headers=first)).status_code == 200

    second = {"Authorization": f"Bearer {await tenant.api_key([Scope.WRITE_TRACES], name='second')}"}
    assert_over_quota(await client.post(OTLP, json=otlp(1), headers=second))
    assert_over_quota(await client.post(f"{tenant.ws}/traces", json=native(1), headers=tenant.headers))
    assert await stored_spans(db, tenant.workspace_id) == BURST

    # Another workspace has a bucket of its own.
    other = {"Authorization": f"Bearer {await other_tenant.api_key([Scope.WRITE_TRACES])}"}
    assert (await client.post(OTLP, json=otlp(BURST), headers=other)).status_code == 200
    assert await stored_spans(db, other_tenant.workspace_id) == BURST


async def test_a_batch_larger_than_the_burst_is_admitted_once_then_waits_out_its_debt(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.WRITE_TRACES])}"}
    # A full bucket admits a batch bigger than the burst (refusing it would refuse it forever) ...
    big = await client.post(OTLP, json=otlp(BURST + 5), headers=key)
    assert big.status_code == 200, big.text
    assert big.json() == {}
    # ... and the debt of 5 spans plus the next one must refill first: about 600 s at 0.01/s.
    retry_after = assert_over_quota(await client.post(OTLP, json=otlp(1), headers=key))
    assert 500 < retry_after <= 600
    assert await stored_spans(db, tenant.workspace_id) == BURST + 5


async def test_span_writes_are_not_limited_per_principal_but_other_routes_are(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.WRITE_TRACES])}"}
    # Five export requests of two spans: over the per-principal request limit, within the quota.
    statuses = [(await client.post(OTLP, json=otlp(2), headers=key)).status_code for _ in range(5)]
    assert statuses == [200] * 5
    # Reading stats with the same key is an ordinary API call, limited per principal.
    reads = [(await client.get(f"{OTLP}/stats", headers=key)).status_code for _ in range(PER_PRINCIPAL + 1)]
    assert reads == [200] * PER_PRINCIPAL + [429]


@pytest.mark.redis
async def test_redis_buckets_are_shared_by_every_process_and_expire_when_idle(run_id: str) -> None:
    client = Redis.from_url(REDIS_URL)
    prefix = f"spectral-test:{run_id}:{uuid.uuid4().hex[:8]}"
    try:
        # Two processes of one deployment: separate quota objects, one Redis.
        api = RedisSpanQuota(client, prefix=prefix, rate=RATE, burst=BURST)
        ingest = RedisSpanQuota(client, prefix=prefix, rate=RATE, burst=BURST)
        workspace = uuid.uuid4()
        await api.take(workspace, BURST - 1)
        await ingest.take(workspace, 1)
        with pytest.raises(RateLimitedError):
            await api.take(workspace, 1)
        # The key lives until the bucket would be full again (10 spans at 0.01/s: ~1,000 s), capped.
        ttl_ms = await client.pttl(api.key(workspace))
        assert 900_000 < ttl_ms <= 1_001_000
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
