"""The PostgreSQL write path: a request of 1,000 spans is a handful of statements, not 1,000."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from fixtures_identity import Tenant
from integration.traces.otlp_payloads import GENAI_ATTRIBUTES, request, span, to_protobuf, trace_id
from spectral.platform.identity.scopes import Scope
from spectral.platform.traces import service

OTLP = "/otel/v1/traces"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
async def key_headers(tenant: Tenant) -> dict[str, str]:
    key = await tenant.api_key([Scope.WRITE_TRACES])
    return {"Authorization": f"Bearer {key}"}


class StatementCounter:
    """Counts what psycopg sends (SQLAlchemy's statements and the raw COPY path's), in total and
    while the write path (`service.store_batch`) runs."""

    def __init__(self) -> None:
        self.total = 0
        self.write_path = 0
        self.in_write_path = False

    def hit(self) -> None:
        self.total += 1
        self.write_path += self.in_write_path


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> StatementCounter:
    counting = StatementCounter()
    execute, copy, store_batch = psycopg.AsyncCursor.execute, psycopg.AsyncCursor.copy, service.store_batch

    async def counted_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        counting.hit()
        return await execute(self, *args, **kwargs)

    def counted_copy(self: Any, *args: Any, **kwargs: Any) -> Any:
        counting.hit()
        return copy(self, *args, **kwargs)

    async def counted_store_batch(*args: Any, **kwargs: Any) -> None:
        counting.in_write_path = True
        try:
            await store_batch(*args, **kwargs)
        finally:
            counting.in_write_path = False

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counted_execute)
    monkeypatch.setattr(psycopg.AsyncCursor, "copy", counted_copy)
    monkeypatch.setattr(service, "store_batch", counted_store_batch)
    return counting


async def test_a_thousand_spans_are_a_handful_of_statements(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str], counter: StatementCounter
) -> None:
    traces = [trace_id() for _ in range(100)]
    body = to_protobuf(request([span(traces[i % 100], attrs=GENAI_ATTRIBUTES) for i in range(1000)]))
    response = await client.post(OTLP, content=body, headers={**key_headers, **PROTOBUF})
    assert response.status_code == 200
    # Agents resolved; trace locks, which traces have a row and the savepoint (one round trip);
    # COPY; traces upserted (rolled up from the batch: none had a row) and stats (one round trip):
    # 7, and possibly the authentication's pending last-used update, which the first query flushes.
    assert counter.write_path <= 8, counter.write_path
    # With authentication and the unit of work around it.
    assert counter.total <= 17, counter.total

    # Re-sent: the COPY meets the primary key (after the locks, the read and the savepoint, which
    # come first), and the batch goes through staging instead (rollback, create, COPY, merge) —
    # which inserts nothing, so no trace is rolled up again: the stats alone are upserted.
    counter.write_path = 0
    response = await client.post(OTLP, content=body, headers={**key_headers, **PROTOBUF})
    assert response.status_code == 200
    assert counter.write_path <= 10, counter.write_path
    listing = await client.get(f"{tenant.ws}/traces?limit=1", headers=tenant.headers)
    assert listing.json()["pagination"]["total"] == 100
    detail = await client.get(f"{tenant.ws}/traces/{traces[0]}", headers=tenant.headers)
    assert detail.json()["span_count"] == 10
