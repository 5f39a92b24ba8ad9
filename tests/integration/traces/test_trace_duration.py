"""A trace's duration is exact to the stored microsecond on both backends (issue 11): SQLite's
strftime('%s') rounds a fraction of .9995 s or more up to the next second, which made a trace's
duration off by 1000 ms and two scans of the same traces disagree on latency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fixtures_identity import Tenant
from integration.traces.otlp_payloads import span_id, trace_id

pytestmark = pytest.mark.both_backends

NOON = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _span(trace: str, start: datetime, end: datetime, parent: str | None = None) -> dict[str, object]:
    return {
        "trace_id": trace,
        "span_id": span_id(),
        "parent_span_id": parent,
        "name": "step",
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "attributes": {},
    }


@pytest.mark.parametrize(
    ("start_us", "end_us"),
    [
        (0, 999_950),  # the end's fraction rounds up to the next second in SQLite's parser
        (999_950, 1_000_050),  # the start's does: 0.1 ms, not -999.9 ms
        (999_999, 1_000_001),
        (499_999, 2_500_001),
        (59_999_999, 60_000_001),  # across a minute
        (0, 0),
        (123_456, 86_400_123_457),  # a day and one microsecond
    ],
)
async def test_trace_duration_is_exact_at_the_rounding_edges(
    client: httpx.AsyncClient, tenant: Tenant, start_us: int, end_us: int
) -> None:
    trace = trace_id()
    start = NOON + timedelta(microseconds=start_us)
    end = NOON + timedelta(microseconds=end_us)
    response = await client.post(
        f"{tenant.ws}/traces",
        json={"resource": {"service.name": "edges"}, "spans": [_span(trace, start, end)]},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    detail = (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).json()
    assert detail["duration_ms"] == pytest.approx((end_us - start_us) / 1000, abs=1e-9)


async def test_a_trace_spans_its_earliest_start_to_its_latest_end(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    trace = trace_id()
    root = _span(trace, NOON + timedelta(microseconds=999_700), NOON + timedelta(seconds=1, microseconds=200))
    child = _span(
        trace,
        NOON + timedelta(microseconds=999_800),
        NOON + timedelta(seconds=2, microseconds=999_999),
        parent=str(root["span_id"]),
    )
    response = await client.post(
        f"{tenant.ws}/traces",
        json={"resource": {"service.name": "edges"}, "spans": [root, child]},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    detail = (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).json()
    assert detail["duration_ms"] == pytest.approx((2_999_999 - 999_700) / 1000, abs=1e-9)
