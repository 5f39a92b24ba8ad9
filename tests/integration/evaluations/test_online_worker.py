"""Online scoring in production shape: the API enqueues into Redis after the ingest commit, a
`spectral-worker` (arq, burst) scores the batch; a rescore goes to the long-job queue."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from fixtures_identity import Tenant
from integration.evaluations.test_online_scoring import create_agent, create_rubric, ingest, span, trace_ids
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import ArqQueue
from spectral.platform.shared.settings import Settings
from spectral_api.app import create_app
from spectral_api.state import AppState
from spectral_worker.worker import build_workers
from testenv import REDIS_URL

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
async def arq_queue(settings: Settings) -> AsyncIterator[ArqQueue]:
    run = uuid.uuid4().hex[:8]
    settings.default_queue_name = f"spectral:test:{run}:default"
    settings.scan_queue_name = f"spectral:test:{run}:scans"
    queue = await ArqQueue.connect(REDIS_URL, queue_names=settings.queue_names)
    yield queue
    await queue.redis.delete(settings.default_queue_name, settings.scan_queue_name)
    await queue.close()


@pytest.fixture
async def client(settings: Settings, db: Database, arq_queue: ArqQueue) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, state=AppState(settings=settings, db=db, queue=arq_queue))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def drain(settings: Settings, db: Database, queue: ArqQueue, queues: tuple[str, ...]) -> None:
    workers = build_workers(settings, db, queue, cron_jobs=(), queues=queues, burst=True)
    await asyncio.gather(*(worker.async_run() for worker in workers))


async def test_the_worker_scores_an_ingested_batch_and_a_rescore(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings, db: Database, arq_queue: ArqQueue
) -> None:
    agent_id = await create_agent(client, tenant, "support-bot")
    rubric_id = await create_rubric(client, tenant)
    await client.patch(
        f"{tenant.ws}/agents/{agent_id}", json={"online_rubric_id": rubric_id}, headers=tenant.headers
    )
    good, curt = uuid.uuid4().hex, uuid.uuid4().hex
    await ingest(client, tenant, [span(good, "support-bot", "thanks!"), span(curt, "support-bot", "No.")])
    # One job for the batch, waiting in Redis; nothing is scored on the request path.
    assert await arq_queue.redis.zcard(settings.default_queue_name) == 1
    assert await trace_ids(client, tenant, min_score=0) == set()

    await drain(settings, db, arq_queue, ("default",))
    assert await trace_ids(client, tenant, min_score=1) == {good}
    assert await trace_ids(client, tenant, max_score=0.5) == {curt}

    await client.patch(
        f"{tenant.ws}/evaluations/rubrics/{rubric_id}",
        json={"dimensions": [{"key": "ok", "scorer": {"type": "no_error"}, "threshold": 1}]},
        headers=tenant.headers,
    )
    started = await client.post(
        f"{tenant.ws}/evaluations/rubrics/{rubric_id}/rescore", headers=tenant.headers
    )
    assert started.status_code == 202
    assert await arq_queue.redis.zcard(settings.scan_queue_name) == 1
    await drain(settings, db, arq_queue, ("scans",))
    assert await trace_ids(client, tenant, min_score=1) == {good, curt}
    progress = (await client.get(started.headers["location"], headers=tenant.headers)).json()
    assert progress["by_version"] == {"2": 2}
