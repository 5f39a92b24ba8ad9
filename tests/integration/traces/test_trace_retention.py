"""`SPECTRAL_TRACE_RETENTION_DAYS`: spans past it are refused at ingest, expired traces go with
their spans, feedback and scores (on PostgreSQL whole day partitions are dropped first), and
traces within the retention are untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fixtures_identity import Tenant
from integration.traces.otlp_payloads import request, span, span_id, trace_id
from spectral.platform.evaluations.models import Rubric, TraceDimensionScore
from spectral.platform.identity.scopes import Scope
from spectral.platform.retention import expire_traces
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings
from spectral.platform.traces.models import Span, Trace, TraceFeedback
from spectral.platform.traces.partitions import ensure_span_partitions, span_partition_days
from spectral.platform.traces.retention import TraceRetention

pytestmark = pytest.mark.both_backends

OTLP = "/otel/v1/traces"
JSON = {"Content-Type": "application/json"}
DAY_MS = 86_400_000
RETENTION = TraceRetention(days=30)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trace_retention_days": RETENTION.days})


@pytest.fixture
async def key_headers(tenant: Tenant) -> dict[str, str]:
    key = await tenant.api_key([Scope.WRITE_TRACES])
    return {"Authorization": f"Bearer {key}", **JSON}


async def send(
    client: httpx.AsyncClient, headers: dict[str, str], spans: list[dict[str, Any]]
) -> dict[str, Any]:
    response = await client.post(OTLP, json=request(spans), headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def trace_status(client: httpx.AsyncClient, tenant: Tenant, trace: str) -> int:
    return (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).status_code


async def count(db: Database, table: Any, workspace_id: uuid.UUID, trace: str) -> int:
    async with db.session() as session:
        found = await session.scalar(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.workspace_id == workspace_id, table.trace_id == trace)
        )
    return int(found or 0)


async def test_a_span_older_than_the_retention_is_refused_in_partial_success(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    old, fresh = trace_id(), trace_id()
    body = await send(
        client, key_headers, [span(old, start_ms=-(RETENTION.days or 0) * DAY_MS - DAY_MS), span(fresh)]
    )
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert "trace retention (30 days)" in body["partialSuccess"]["errorMessage"]
    assert await trace_status(client, tenant, old) == 404
    assert await trace_status(client, tenant, fresh) == 200

    stats = (await client.get(f"{OTLP}/stats", headers=key_headers)).json()
    assert (stats["accepted"], stats["rejected"]) == (1, 1)


async def test_expired_traces_go_with_their_spans_feedback_and_scores(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str], db: Database, backend: str
) -> None:
    twenty_days_ago = (utcnow() - timedelta(days=20)).date()
    if backend == "postgres":
        # Partitions for the old days, as the worker made them back then.
        async with db.session() as session:
            await ensure_span_partitions(session, twenty_days_ago, ahead_days=0)
    # `straddling` started 20 days ago and has a span from yesterday (a later partition).
    straddling, recent = trace_id(), trace_id()
    root = span_id()
    await send(
        client,
        key_headers,
        [
            span(straddling, root, start_ms=-20 * DAY_MS),
            span(straddling, parent=root, start_ms=-DAY_MS),
            span(recent, start_ms=-10 * DAY_MS),
        ],
    )
    for trace in (straddling, recent):
        response = await client.post(
            f"{tenant.ws}/traces/{trace}/feedback",
            json={"kind": "thumbs", "value": "up"},
            headers=tenant.headers,
        )
        assert response.status_code == 201, response.text
    async with db.session() as session:
        rubric = Rubric(workspace_id=tenant.workspace_id, name="r", dimensions=[], created_by="test")
        session.add(rubric)
        await session.flush()
        for trace in (straddling, recent):
            session.add(
                TraceDimensionScore(
                    workspace_id=tenant.workspace_id,
                    trace_id=trace,
                    rubric_id=rubric.id,
                    dimension_key="d",
                    rubric_version=1,
                    trace_start_time=utcnow(),
                    score=1.0,
                )
            )

    # Fifteen days on, the cutoff is fifteen days ago: `straddling` expired, `recent` did not.
    later = utcnow() + timedelta(days=15)
    cutoff, cutoff_day = RETENTION.cutoff(later), RETENTION.cutoff_day(later)
    assert cutoff is not None
    assert cutoff_day is not None
    # The run's database is shared by the tests of one worker: what others left also expires.
    async with db.session() as session:
        expiring = (
            await session.execute(
                sa.select(sa.func.count()).select_from(Trace).where(Trace.start_time < cutoff)
            )
        ).scalar_one()
        old_days = [day for day in await span_partition_days(session) if day < cutoff_day]
    expired = await expire_traces(db, RETENTION, later)

    assert expired.traces == expiring >= 1
    assert await trace_status(client, tenant, straddling) == 404
    assert await trace_status(client, tenant, recent) == 200
    for table, straddling_rows, recent_rows in (
        (Span, 0, 1),
        (TraceFeedback, 0, 1),
        (TraceDimensionScore, 0, 1),
    ):
        assert await count(db, table, tenant.workspace_id, straddling) == straddling_rows, table
        assert await count(db, table, tenant.workspace_id, recent) == recent_rows, table
    if backend == "postgres":
        async with db.session() as session:
            days = await span_partition_days(session)
        # The old days' partitions (the two made here among them) went whole; every remaining one
        # is on or after the cutoff.
        assert expired.partitions == len(old_days) >= 2
        assert min(days) >= cutoff_day

    # Run again: nothing left to expire.
    again = await expire_traces(db, RETENTION, later)
    assert (again.partitions, again.traces) == (0, 0)


async def test_without_retention_nothing_expires(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str], db: Database
) -> None:
    old = trace_id()
    await send(client, key_headers, [span(old, start_ms=-20 * DAY_MS)])
    expired = await expire_traces(db, TraceRetention(days=None), datetime.now(UTC) + timedelta(days=3650))
    assert (expired.partitions, expired.traces) == (0, 0)
    assert await trace_status(client, tenant, old) == 200
