"""A workspace the assistant answers from: two agents, a rubric and an objective, traces of
support-bot sent through the ingest API (two failing, one of them carrying a prompt injection),
and two proposed change sets of support-bot (one recommended by its validation)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant, register_tenant
from integration.assistant.assistant_support import INJECTION, Live, World
from spectral.platform.changesets.lifecycle import ChangeSetStatus
from spectral.platform.changesets.models import ChangeSet
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Settings
from spectral_api.app import create_app
from spectral_api.state import AppState


def _span(trace_id: str, *, failed: bool, output: str, minutes_ago: int) -> dict[str, Any]:
    start = utcnow() - timedelta(minutes=minutes_ago)
    return {
        "trace_id": trace_id,
        "span_id": uuid.uuid4().hex[:16],
        "name": "chat gpt-4o",
        "kind": "client",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(milliseconds=700)).isoformat(),
        "status": "error" if failed else "ok",
        "attributes": {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 900,
            "gen_ai.usage.output_tokens": 200,
            "gen_ai.input.messages": [{"role": "user", "content": "Where is my order?"}],
            "gen_ai.output.messages": [{"role": "assistant", "content": output}],
        },
    }


async def _created(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    value: str = response.json()["id"]
    return value


def _changeset(world_ws: uuid.UUID, agent_id: str, *, verdict: str, gain: float, after: float) -> ChangeSet:
    return ChangeSet(
        workspace_id=world_ws,
        agent_id=uuid.UUID(agent_id),
        status=ChangeSetStatus.PROPOSED,
        strategy="params",
        title=f"temperature 0.2 -> {after}",
        rationale="Lower temperature answers order questions more consistently.",
        verdict=verdict,
        diff=[{"kind": "set_param", "key": "temperature", "before": 0.2, "after": after}],
        candidate_config={"model": "gpt-4o", "params": {"temperature": after}},
        evidence_trace_ids=[],
        validation={"mean_difference": gain, "passed": verdict == "recommend"},
        expected_impact={"quality": gain},
    )


async def seed_world(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> World:
    h = tenant.headers
    agent_id = await _created(
        await client.post(
            f"{tenant.ws}/agents",
            json={
                "name": "Support bot",
                "slug": "support-bot",
                "config": {
                    "model": "gpt-4o",
                    "params": {"temperature": 0.2},
                    "templates": {"system": "Be brief."},
                },
            },
            headers=h,
        )
    )
    other_agent_id = await _created(
        await client.post(
            f"{tenant.ws}/agents", json={"name": "Billing bot", "slug": "billing-bot"}, headers=h
        )
    )
    rubric_id = await _created(
        await client.post(
            f"{tenant.ws}/evaluations/rubrics",
            json={
                "name": "Quality",
                "dimensions": [{"key": "ok", "scorer": {"type": "no_error"}, "threshold": 1}],
            },
            headers=h,
        )
    )
    objective_id = await _created(
        await client.post(
            f"{tenant.ws}/evaluations/objectives",
            json={
                "name": "Balanced",
                "rubric_id": rubric_id,
                "weights": {"quality": 1, "cost": 0, "latency": 0},
            },
            headers=h,
        )
    )
    ok_ids = [uuid.uuid4().hex for _ in range(3)]
    failing_id, injection_id = uuid.uuid4().hex, uuid.uuid4().hex
    spans = [
        _span(t, failed=False, output="It ships today.", minutes_ago=10 + i) for i, t in enumerate(ok_ids)
    ]
    spans.append(_span(failing_id, failed=True, output="Sorry, something broke.", minutes_ago=5))
    spans.append(_span(injection_id, failed=True, output=INJECTION, minutes_ago=4))
    sent = await client.post(
        f"{tenant.ws}/traces", json={"resource": {"service.name": "support-bot"}, "spans": spans}, headers=h
    )
    assert sent.status_code in (200, 202), sent.text
    assert sent.json()["accepted"] == len(spans)

    recommended = _changeset(tenant.workspace_id, agent_id, verdict="recommend", gain=0.12, after=0.0)
    inconclusive = _changeset(tenant.workspace_id, agent_id, verdict="inconclusive", gain=0.01, after=0.5)
    async with db.session() as session:
        session.add(recommended)
        await session.flush()
        session.add(inconclusive)
    return World(
        tenant=tenant,
        agent_id=agent_id,
        other_agent_id=other_agent_id,
        rubric_id=rubric_id,
        objective_id=objective_id,
        ok_trace_ids=ok_ids,
        failing_trace_ids=[failing_id, injection_id],
        injection_trace_id=injection_id,
        recommended_id=recommended.id,
        inconclusive_id=inconclusive.id,
    )


@pytest.fixture
async def world(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> World:
    return await seed_world(client, tenant, db)


@pytest.fixture
async def live(pg_url: str, settings: Settings) -> AsyncIterator[Live]:
    """The world on a database that really commits, with the in-process queue running the jobs
    an approval starts (a scan opens sessions of its own, which a rolled-back test connection
    cannot serve alongside the request)."""
    db = Database(pg_url, pool_size=4)
    ctx: dict[str, object] = {"db": db, "settings": settings}
    queue = InProcessQueue(JOB_FUNCTIONS, ctx)
    ctx["queue"] = queue
    app = create_app(settings, state=AppState(settings=settings, db=db, queue=queue))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
        tenant = await register_tenant(client, app, "Live")
        yield Live(client=client, world=await seed_world(client, tenant, db))
        await queue.join()
    await queue.close()
    await db.dispose()
