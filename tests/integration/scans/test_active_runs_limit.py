"""A workspace cannot flood the scan queue. Scans, experiments and validation runs share one
queue that runs jobs in the order they came, a couple at a time per worker: one tenant that
queued hundreds of scans (each with a $10,000 budget; 200 took three seconds) pushed every other
tenant's runs back by hours. Each kind is capped per workspace, queued or running; past it the
start is a 429 with Retry-After and nothing is written; other workspaces are unaffected.

The queue here holds its jobs without running them (a worker that has not got to them yet), so
the runs stay queued as long as the test needs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fixtures_identity import Tenant
from spectral.platform.changesets.models import ChangeSet, Experiment, ValidationRun
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.models.models import CallPurpose, CallStatus, ModelCall
from spectral.platform.scans.models import Scan, ScanSchedule
from spectral.platform.scans.service import start_due_scans
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import (
    BUSY_RETRY_AFTER_S,
    MAX_ACTIVE_RUNS_PER_WORKSPACE,
    InProcessQueue,
)
from spectral.platform.shared.settings import Settings

pytestmark = pytest.mark.both_backends


async def _held(ctx: dict[str, Any], **kwargs: Any) -> None:
    """A job not run yet: its row stays queued."""


@pytest.fixture
async def queue(db: Database, settings: Settings) -> AsyncIterator[InProcessQueue]:
    ctx: dict[str, object] = {"db": db, "settings": settings}
    held = InProcessQueue(dict.fromkeys(JOB_FUNCTIONS, _held), ctx)
    ctx["queue"] = held
    yield held
    await held.join()
    await held.close()


async def _count(app: FastAPI, model: type, workspace_id: uuid.UUID) -> int:
    async with app.state.spectral.db.session() as session:
        query = sa.select(sa.func.count()).select_from(model).where(model.workspace_id == workspace_id)  # type: ignore[attr-defined]
        return int(await session.scalar(query) or 0)


async def _scan_body(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    agent = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "Bot", "slug": "bot", "config": {"model": "gpt-4o"}},
        headers=tenant.headers,
    )
    rubric = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": "Q", "dimensions": [{"key": "ok", "scorer": {"type": "no_error"}}]},
        headers=tenant.headers,
    )
    objective = await client.post(
        f"{tenant.ws}/evaluations/objectives",
        json={"name": "Q", "rubric_id": rubric.json()["id"], "weights": {"quality": 1}},
        headers=tenant.headers,
    )
    return {
        "agent_id": agent.json()["id"],
        "rubric_id": rubric.json()["id"],
        "objective_id": objective.json()["id"],
    }


def _assert_busy(response: httpx.Response, kind: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == str(BUSY_RETRY_AFTER_S)
    assert f"{MAX_ACTIVE_RUNS_PER_WORKSPACE} {kind} queued or running" in response.json()["detail"]


async def _fill(
    client: httpx.AsyncClient, url: str, body: dict[str, Any] | None, tenant: Tenant
) -> list[str]:
    ids = []
    for _ in range(MAX_ACTIVE_RUNS_PER_WORKSPACE):
        started = await client.post(url, json=body, headers=tenant.headers)
        assert started.status_code == 202, started.text
        ids.append(started.json()["id"])
    return ids


async def test_scans_past_the_cap_are_429_and_other_workspaces_are_unaffected(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant, other_tenant: Tenant
) -> None:
    body = await _scan_body(client, tenant)
    scans = await _fill(client, f"{tenant.ws}/scans", body, tenant)
    _assert_busy(await client.post(f"{tenant.ws}/scans", json=body, headers=tenant.headers), "scans")
    assert await _count(app, Scan, tenant.workspace_id) == MAX_ACTIVE_RUNS_PER_WORKSPACE

    other = await client.post(
        f"{other_tenant.ws}/scans", json=await _scan_body(client, other_tenant), headers=other_tenant.headers
    )
    assert other.status_code == 202, other.text

    cancelled = await client.post(f"{tenant.ws}/scans/{scans[0]}/cancel", headers=tenant.headers)
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post(f"{tenant.ws}/scans", json=body, headers=tenant.headers)
    assert again.status_code == 202, again.text


async def test_a_schedule_due_while_the_workspace_is_at_the_cap_skips_its_run(
    client: httpx.AsyncClient, app: FastAPI, db: Database, tenant: Tenant
) -> None:
    body = await _scan_body(client, tenant)
    schedule = await client.post(
        f"{tenant.ws}/scans/schedules",
        json={"name": "every minute", "cron": "* * * * *", "scan": body},
        headers=tenant.headers,
    )
    assert schedule.status_code == 201, schedule.text
    await _fill(client, f"{tenant.ws}/scans", body, tenant)
    later = utcnow() + timedelta(minutes=5)
    async with db.session() as session:
        assert await start_due_scans(session, later) == []
        await session.commit()
    assert await _count(app, Scan, tenant.workspace_id) == MAX_ACTIVE_RUNS_PER_WORKSPACE
    async with db.session() as session:
        row = await session.get(ScanSchedule, uuid.UUID(schedule.json()["id"]))
        assert row is not None
        assert row.last_scan_id is None
        assert as_utc(row.next_run_at) > later  # advanced: the skipped run does not pile up


async def test_experiments_past_the_cap_are_429(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant
) -> None:
    body = await _scan_body(client, tenant)
    sample_set = await client.post(f"{tenant.ws}/samples", json={"name": "s"}, headers=tenant.headers)
    await client.post(
        f"{tenant.ws}/samples/{sample_set.json()['id']}/items",
        json={"items": [{"input": "Where is my order?"}]},
        headers=tenant.headers,
    )
    experiment = {
        **body,
        "sample_set_id": sample_set.json()["id"],
        "candidate_config": {"model": "gpt-4o-mini"},
    }
    url = f"{tenant.ws}/changesets/experiments"
    await _fill(client, url, experiment, tenant)
    _assert_busy(await client.post(url, json=experiment, headers=tenant.headers), "experiments")
    assert await _count(app, Experiment, tenant.workspace_id) == MAX_ACTIVE_RUNS_PER_WORKSPACE


async def test_validation_runs_past_the_cap_are_429(
    client: httpx.AsyncClient, app: FastAPI, db: Database, tenant: Tenant
) -> None:
    body = await _scan_body(client, tenant)
    scan = await client.post(f"{tenant.ws}/scans", json=body, headers=tenant.headers)
    changeset = ChangeSet(
        workspace_id=tenant.workspace_id,
        agent_id=uuid.UUID(body["agent_id"]),
        scan_id=uuid.UUID(scan.json()["id"]),
        status="proposed",
        strategy="params",
        title="t",
        rationale="r",
        verdict="recommend",
        diff=[],
        candidate_config={"model": "gpt-4o-mini"},
        evidence_trace_ids=[],
        expected_impact={},
    )
    async with db.session() as session:
        session.add(changeset)
        await session.commit()
    url = f"{tenant.ws}/changesets/{changeset.id}/validation"
    await _fill(client, url, None, tenant)
    _assert_busy(await client.post(url, headers=tenant.headers), "validation runs")
    assert await _count(app, ValidationRun, tenant.workspace_id) == MAX_ACTIVE_RUNS_PER_WORKSPACE


async def test_a_workspaces_health_shows_its_own_runs_and_model_calls_only(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    """The health of any workspace, open to its viewers, used to show the queue's depth (every
    tenant's jobs) and every tenant's model calls, latencies and last error texts."""
    body = await _scan_body(client, tenant)
    await _fill(client, f"{tenant.ws}/scans", body, tenant)
    async with db.session() as session:
        session.add(
            ModelCall(
                workspace_id=tenant.workspace_id,
                model="gpt-4o",
                provider="openai",
                purpose=CallPurpose.JUDGE.value,
                status=CallStatus.ERROR.value,
                error="judge answered: <Acme's customer data>",
            )
        )
        await session.commit()

    mine = (await client.get(f"{tenant.ws}/health", headers=tenant.headers)).json()
    assert mine["queue"]["depth"] == MAX_ACTIVE_RUNS_PER_WORKSPACE
    [model] = mine["models"]["models"]
    assert (model["calls"], model["last_error"]) == (1, "judge answered: <Acme's customer data>")

    viewer = await other_tenant.member("viewer")
    theirs = await client.get(f"{other_tenant.ws}/health", headers=viewer)
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["queue"]["depth"] == 0
    assert theirs.json()["models"]["models"] == []
    assert "Acme" not in theirs.text
