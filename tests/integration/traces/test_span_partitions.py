"""Daily partitions of `spans` (PostgreSQL): created ahead and idempotently, a span on a day with no
partition kept in the default partition and moved out when its day gets one, and traces whose
spans lie in several partitions read and recomputed whole."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fixtures_identity import Tenant
from integration.traces.otlp_payloads import request, span, span_id, trace_id
from spectral.platform.identity.scopes import Scope
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.traces.jobs import maintain_span_partitions
from spectral.platform.traces.partitions import AHEAD_DAYS, ensure_span_partitions, span_partition_days

OTLP = "/otel/v1/traces"
JSON = {"Content-Type": "application/json"}
DAY_MS = 86_400_000


@pytest.fixture
async def key_headers(tenant: Tenant) -> dict[str, str]:
    key = await tenant.api_key([Scope.WRITE_TRACES])
    return {"Authorization": f"Bearer {key}", **JSON}


async def send(client: httpx.AsyncClient, headers: dict[str, str], spans: list[dict[str, Any]]) -> None:
    response = await client.post(OTLP, json=request(spans), headers=headers)
    assert response.status_code == 200, response.text
    assert "partialSuccess" not in response.json() or not response.json()["partialSuccess"].get(
        "rejectedSpans"
    )


async def partition_of(db: Database, span: str) -> str:
    async with db.session() as session:
        found = await session.scalar(
            sa.text("SELECT tableoid::regclass::text FROM spans WHERE span_id = :span"), {"span": span}
        )
    return str(found)


async def test_the_worker_job_keeps_a_week_of_partitions_ahead_idempotently(db: Database) -> None:
    today = utcnow().date()
    await maintain_span_partitions({"db": db})
    async with db.session() as session:
        days = set(await span_partition_days(session))
        assert {today + timedelta(days=n) for n in range(-1, AHEAD_DAYS + 1)} <= days
        # Again: nothing to do.
        assert await ensure_span_partitions(session, today) == []
        # A later day: only the days not there yet are made.
        assert await ensure_span_partitions(session, today + timedelta(days=3)) == [
            today + timedelta(days=3 + AHEAD_DAYS - n) for n in range(2, -1, -1)
        ]


async def test_a_span_on_a_day_without_partition_is_kept_and_moves_when_the_day_gets_one(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str], db: Database
) -> None:
    later = span_id()
    trace = trace_id()
    # A month ahead (a client's clock far off): no partition yet, the default one takes it.
    await send(client, key_headers, [span(trace, later, start_ms=30 * DAY_MS)])
    assert await partition_of(db, later) == "span_partitions.spans_default"

    day = (utcnow() + timedelta(days=30)).date()
    async with db.session() as session:
        created = await ensure_span_partitions(session, day, ahead_days=0)
    assert day in created
    assert await partition_of(db, later) == f"span_partitions.spans_{day:%Y%m%d}"
    detail = (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).json()
    assert [s["span_id"] for s in detail["spans"]] == [later]


async def test_a_trace_over_several_partitions_is_read_and_recomputed_whole(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str], db: Database
) -> None:
    trace, root = trace_id(), span_id()
    # Yesterday's root first, today's child in a later request, then a span from two days ago
    # (before the trace's start so far: the recompute must reach back to its partition too).
    await send(client, key_headers, [span(trace, root, start_ms=-DAY_MS, duration_ms=2 * DAY_MS)])
    await send(client, key_headers, [span(trace, parent=root, start_ms=0)])
    early = span_id()
    await send(client, key_headers, [span(trace, early, parent=root, start_ms=-2 * DAY_MS)])
    partitions = {await partition_of(db, s) for s in (root, early)}
    assert len(partitions) == 2

    detail = (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).json()
    assert detail["span_count"] == 3
    assert [s["span_id"] for s in detail["spans"]] == [root]
    children = {child["span_id"]: child for child in detail["spans"][0]["children"]}
    assert len(children) == 2
    assert detail["start_time"] == children[early]["start_time"]
    # Re-sent whole: no duplicates in any partition.
    await send(client, key_headers, [span(trace, root, start_ms=-DAY_MS, duration_ms=2 * DAY_MS)])
    detail = (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).json()
    assert detail["span_count"] == 3
