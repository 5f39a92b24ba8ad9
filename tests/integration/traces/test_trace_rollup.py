"""A trace row is the roll-up of the set of its spans, however they arrive (issue 16).

The write path rolls a new trace up from the request that brings its first spans and a stored trace
from its stored spans; re-sent spans touch nothing. Property: for random traces (ties in time,
several or no parentless spans, errors, LLM spans with and without tokens and cost, agents from
different sources, messages), split into random batches in random order, with spans re-sent in
later batches and repeated within one, mixed with other traces in the same requests, the stored
trace row equals the full recompute — the roll-up of all the trace's spans as stored — on
PostgreSQL and SQLite, and every span is stored once."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from fixtures_identity import Tenant
from spectral.platform.shared.db import Database
from spectral.platform.traces import repository
from spectral.platform.traces.models import Span, Trace
from spectral.platform.traces.normalise import NormalisedSpan
from spectral.platform.traces.rollup import SPAN_FACT_COLUMNS, TRACE_ROLLUP_COLUMNS, SpanFacts, roll_up

pytestmark = pytest.mark.both_backends

BASE = datetime(2026, 11, 2, 23, 59, 59, tzinfo=UTC)  # traces cross a day: two partitions
AGENT_IDS = {"support-bot": uuid.uuid4(), "billing-bot": uuid.uuid4()}


def _hex(rng: random.Random, digits: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(digits))


def _maybe(rng: random.Random, value: Any, chance: float = 0.5) -> Any:
    return value if rng.random() < chance else None


def random_trace(rng: random.Random) -> list[NormalisedSpan]:
    trace_id = _hex(rng, 32)
    span_ids = [_hex(rng, 16) for _ in range(rng.randint(1, 8))]
    spans = []
    for span_id in span_ids:
        # Few distinct times, so that starts and ends tie and the span id decides.
        start = BASE + timedelta(microseconds=rng.choice([0, 700, 700, 1_500_000]))
        end = start + timedelta(microseconds=rng.choice([0, 300, 1_000_000]))
        kind = rng.choice(["llm", "llm", "tool", "agent", "other"])
        status = rng.choice(["ok", "unset", "error"])
        source = rng.choice([None, 1, 2, 3])
        key = None if source is None else rng.choice([*AGENT_IDS, "unknown-agent"])
        input_text = _maybe(rng, rng.choice(["Where is my order?", "Refund, please"]))
        spans.append(
            NormalisedSpan(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=rng.choice([None, rng.choice(span_ids), _hex(rng, 16)]),
                name=rng.choice(["agent", "chat", "tool call"]),
                kind=kind,
                span_kind="internal",
                service_name=_maybe(rng, rng.choice(["svc-a", "svc-b"]), 0.8),
                scope_name=None,
                start_time=start,
                end_time=end,
                duration_ms=(end - start) / timedelta(milliseconds=1),
                status=status,
                status_message=None,
                error_type=_maybe(rng, rng.choice(["Timeout", "ValueError"])) if status == "error" else None,
                error_message=_maybe(rng, f"failed {rng.randrange(9)}") if status == "error" else None,
                model=_maybe(rng, rng.choice(["gpt-4o", "claude"])),
                provider=None,
                operation=None,
                input_tokens=_maybe(rng, rng.randrange(1000)),
                output_tokens=_maybe(rng, rng.randrange(1000)),
                total_tokens=_maybe(rng, rng.randrange(2000)),
                cost_usd=_maybe(rng, rng.random() / 7),
                cost_estimated=False,
                finish_reason=_maybe(rng, rng.choice(["stop", "length"])),
                tool_name=None,
                agent_key=key,
                agent_source=source,
                agent_version=_maybe(rng, rng.choice(["v1", "v2"])),
                session_id=_maybe(rng, rng.choice(["s-1", "s-2"])),
                input_text=input_text,
                output_text=_maybe(rng, rng.choice(["Shipped.", "Refunded."])),
                input_messages=_maybe(rng, [{"role": "user", "content": input_text or span_id}]),
                output_messages=None,
                attributes={},
                resource_attributes={},
                events=None,
                links=None,
            )
        )
    return spans


def random_batches(rng: random.Random, traces: list[list[NormalisedSpan]]) -> list[list[NormalisedSpan]]:
    """Every span in some batch, in random order, batches mixing traces; some spans sent again in a
    later batch, some twice within one."""
    spans = [span for trace in traces for span in trace]
    rng.shuffle(spans)
    cuts = sorted(rng.sample(range(1, len(spans)), min(len(spans) - 1, rng.randint(0, 6))))
    batches = [spans[a:b] for a, b in zip([0, *cuts], [*cuts, len(spans)], strict=True)]
    sent: list[NormalisedSpan] = []
    for batch in batches:
        sent_before = list(sent)
        sent += batch
        if sent_before and rng.random() < 0.5:
            batch += rng.sample(sent_before, rng.randint(1, len(sent_before)))
        if rng.random() < 0.3:
            batch.append(rng.choice(batch))
        rng.shuffle(batch)
    # Sometimes a whole batch again at the end (an exporter's retry of a request that succeeded).
    if rng.random() < 0.3:
        batches.append(list(rng.choice(batches)))
    return batches


def _comparable(column: str, value: Any) -> Any:
    if column == "input_messages" and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)  # SQLite hands back naive UTC
    return value


@pytest.mark.parametrize("seed", range(12))
async def test_a_trace_row_is_the_roll_up_of_its_spans_however_they_arrive(
    db: Database, tenant: Tenant, seed: int
) -> None:
    rng = random.Random(seed)
    workspace_id = tenant.workspace_id
    traces = [random_trace(rng) for _ in range(rng.randint(1, 4))]
    now = datetime.now(UTC)
    for batch in random_batches(rng, traces):
        async with db.session() as session:
            await repository.store_spans(session, workspace_id, batch, AGENT_IDS, {}, now)

    async with db.session() as session:
        connection = await session.connection()
        for trace in traces:
            trace_id = trace[0].trace_id
            stored = [
                SpanFacts._make(row)
                for row in await connection.execute(
                    sa.select(
                        *(
                            sa.cast(Span.__table__.c[c], sa.Text)
                            if c == "input_messages"
                            else Span.__table__.c[c]  # type: ignore[attr-defined]
                            for c in SPAN_FACT_COLUMNS
                        )
                    ).where(
                        Span.__table__.c.workspace_id == workspace_id, Span.__table__.c.trace_id == trace_id
                    )  # type: ignore[attr-defined]
                )
            ]
            assert sorted(s.span_id for s in stored) == sorted(s.span_id for s in trace)
            row = (
                await connection.execute(
                    sa.select(*(Trace.__table__.c[c] for c in TRACE_ROLLUP_COLUMNS)).where(  # type: ignore[attr-defined]
                        Trace.__table__.c.workspace_id == workspace_id,  # type: ignore[attr-defined]
                        Trace.__table__.c.trace_id == trace_id,  # type: ignore[attr-defined]
                    )
                )
            ).one()
            expected = roll_up(stored)
            for column, got, want in zip(TRACE_ROLLUP_COLUMNS, row, expected, strict=True):
                assert _comparable(column, got) == _comparable(column, want), (column, got, want)
