"""Scan tests run the whole loop in one process: the API app on a database that really commits
(the scan job opens its own sessions and runs the engine on a thread), the in-process queue, and
the demo agent's replay endpoint served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from demo_agent import create_app as create_demo_agent
from demo_data import DemoWorkspace, demo_workspace
from fastapi import FastAPI

from fixtures_identity import Tenant, register_tenant
from servers import serve_in_thread
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Settings
from spectral_api.app import create_app
from spectral_api.state import AppState

DEMO_SEED = 7


@pytest.fixture(scope="session")
def demo() -> DemoWorkspace:
    return demo_workspace(DEMO_SEED, n_traces=900)


@pytest.fixture(scope="session")
def demo_agent_url() -> Iterator[str]:
    with serve_in_thread(create_demo_agent(DEMO_SEED)) as url:
        yield f"{url}/replay"


@dataclass(slots=True)
class Live:
    app: FastAPI
    client: httpx.AsyncClient
    queue: InProcessQueue
    db: Database


@pytest.fixture
async def live(pg_url: str, settings: Settings) -> AsyncIterator[Live]:
    db = Database(pg_url, pool_size=4)
    ctx: dict[str, object] = {"db": db, "settings": settings}
    queue = InProcessQueue(JOB_FUNCTIONS, ctx)
    ctx["queue"] = queue
    app = create_app(settings, state=AppState(settings=settings, db=db, queue=queue))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
        yield Live(app=app, client=client, queue=queue, db=db)
    await queue.join()
    await queue.close()
    await db.dispose()


@dataclass(slots=True)
class SeededWorkspace:
    tenant: Tenant
    agent_id: str
    rubric_id: str
    objective_id: str


async def seed_workspace(live: Live, demo: DemoWorkspace, replay_url: str | None) -> SeededWorkspace:
    """Register a tenant and set it up as a user would: agent, rubric, objective, traffic, feedback."""
    tenant = await register_tenant(live.client, live.app, "Acme")
    h = tenant.headers
    agent = await live.client.post(f"{tenant.ws}/agents", json=demo.agent_payload(replay_url), headers=h)
    assert agent.status_code == 201, agent.text
    rubric = await live.client.post(f"{tenant.ws}/evaluations/rubrics", json=demo.rubric_payload(), headers=h)
    assert rubric.status_code == 201, rubric.text
    objective = await live.client.post(
        f"{tenant.ws}/evaluations/objectives", json=demo.objective_payload(rubric.json()["id"]), headers=h
    )
    assert objective.status_code == 201, objective.text
    for spans in demo.span_batches():
        ingested = await live.client.post(f"{tenant.ws}/traces", json={"spans": spans}, headers=h)
        assert ingested.status_code in (200, 202), ingested.text
        assert ingested.json()["rejected"] == 0, ingested.text
    for trace_id, value in demo.feedback():
        given = await live.client.post(
            f"{tenant.ws}/traces/{trace_id}/feedback", json={"kind": "score", "value": value}, headers=h
        )
        assert given.status_code == 201, given.text
    # The demo's fixes add prompt text and complete truncated answers: a little more cost and
    # latency for much more quality. The workspace's guardrails say how much of that is acceptable.
    autonomy = await live.client.put(
        f"{tenant.ws}/autonomy",
        json={
            "level": "suggest",
            "guardrails": {"max_cost_increase_pct": 60, "max_latency_increase_pct": 60},
        },
        headers=h,
    )
    assert autonomy.status_code == 200, autonomy.text
    return SeededWorkspace(tenant, agent.json()["id"], rubric.json()["id"], objective.json()["id"])
