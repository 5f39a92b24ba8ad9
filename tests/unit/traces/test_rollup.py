"""A trace row's derived fields from its spans (the roll-up's own rules; the order-independence of
stored rows is tested against the database in tests/integration/traces/test_trace_rollup.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from spectral.platform.traces.rollup import SpanFacts, roll_up

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def facts(span_id: str, start_ms: int, end_ms: int, **fields: Any) -> SpanFacts:
    values: dict[str, Any] = dict.fromkeys(SpanFacts._fields)
    values.update(
        trace_id="ab" * 16,
        span_id=span_id,
        name=span_id,
        start_time=T0 + timedelta(milliseconds=start_ms),
        end_time=T0 + timedelta(milliseconds=end_ms),
        status="ok",
        kind="other",
    )
    values.update(fields)
    return SpanFacts(**values)


def test_the_model_of_a_trace_is_the_model_of_the_call_that_answers() -> None:
    """A RAG chain rewrites a follow-up question with a cheap model, then answers with another: the
    trace is the answering model's (model routing and per-model clusters read it), like its finish
    reason; tokens and cost still add up every call."""
    spans = [
        facts("0000000000000001", 0, 3000, parent_span_id=None, kind="chain"),
        facts(
            "0000000000000002",
            10,
            400,
            parent_span_id="0000000000000001",
            kind="llm",
            model="gpt-4o-mini",
            finish_reason="stop",
            input_tokens=200,
            output_tokens=20,
        ),
        facts(
            "0000000000000003",
            500,
            2900,
            parent_span_id="0000000000000001",
            kind="llm",
            model="gpt-4o",
            finish_reason="length",
            input_tokens=1200,
            output_tokens=256,
        ),
        # A later LLM span that names no model does not take the trace's model away.
        facts("0000000000000004", 2950, 2990, parent_span_id="0000000000000001", kind="llm"),
    ]
    for order in (spans, spans[::-1]):
        rolled = roll_up(order)
        assert rolled.model == "gpt-4o"
        assert rolled.finish_reason == "length"
        assert (rolled.input_tokens, rolled.output_tokens) == (1400, 276)
