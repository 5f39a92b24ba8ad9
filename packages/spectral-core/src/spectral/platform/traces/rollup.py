"""A trace's row rolled up from its spans: the one definition of every derived trace field.

The write path rolls up a new trace from the spans of the request that brings them (all of its spans
there are: a trace row is written in the same transaction as its first spans), and a trace that
exists already from all its stored spans, read back in that transaction. Either way the row is
a function of the trace's set of spans, so it is the same whatever order the spans arrive in,
however many requests they take and however often they are re-sent.

The fields (ties broken by span id, so the result never depends on storage order):
- the root: the first span without a parent by start time (the first span when none has arrived
  without a parent): its id, name and service;
- start = the earliest start, end = the latest end, duration between them at microsecond precision;
- counts of spans and of error spans; tokens and cost summed over LLM spans (None when none has
  any), the cost summed exactly (`math.fsum`: no dependence on the order of the terms);
- status `error` when the root failed or an LLM call did, else `ok`; the error type and message
  of the root when it failed, else of the first failed span;
- agent key and id, and agent version, of the first span that names one, the most specific
  source first (`AgentSource`); session of the first span that has one; model and finish reason
  each of the LLM span that ended last with one (the call that answers: an agent that first
  rewrites the question with a cheap model and answers with another is an agent of the second);
- input: the root's, else the first span's with one (the messages with it: the root's when the
  root has an input text, else the first span's messages); output: the root's, else the span's
  that ended last with one.
"""

from __future__ import annotations

import math
import operator
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

_MICROSECOND = timedelta(microseconds=1)


class SpanFacts(NamedTuple):
    """The columns of a span a roll-up reads (`input_messages` as stored JSON text: copied through)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service_name: str | None
    start_time: datetime
    end_time: datetime
    status: str
    error_type: str | None
    error_message: str | None
    kind: str
    model: str | None
    finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    agent_key: str | None
    agent_source: int | None
    agent_id: uuid.UUID | None
    agent_version: str | None
    session_id: str | None
    input_text: str | None
    input_messages: Any
    output_text: str | None


SPAN_FACT_COLUMNS: tuple[str, ...] = SpanFacts._fields


class TraceRollup(NamedTuple):
    """A trace row's derived columns, in `TRACE_ROLLUP_COLUMNS` order."""

    trace_id: str
    root_span_id: str
    name: str
    agent_key: str | None
    agent_id: uuid.UUID | None
    agent_version: str | None
    service_name: str | None
    session_id: str | None
    start_time: datetime
    end_time: datetime
    duration_ms: float
    span_count: int
    error_count: int
    status: str
    error_type: str | None
    error_message: str | None
    model: str | None
    finish_reason: str | None
    input_text: str | None
    input_messages: Any
    output_text: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None


TRACE_ROLLUP_COLUMNS: tuple[str, ...] = TraceRollup._fields


_IN_START_ORDER = operator.attrgetter("start_time", "span_id")
# Agent sources rank 1 (most specific) and up; a span naming an agent without a source ranks last.
_NO_SOURCE = 1 << 16


def _ends_later(span: SpanFacts, than: SpanFacts | None) -> bool:
    """Whether `span` wins a "last to end" pick over `than` (ties: the lower span id)."""
    return (
        than is None
        or span.end_time > than.end_time
        or (span.end_time == than.end_time and span.span_id < than.span_id)
    )


def roll_up(spans: Sequence[SpanFacts]) -> TraceRollup:
    """The trace row of `spans`: every span of one trace, each once, at least one. One pass over the
    spans in start order, so every "first span with …" is the first one met."""
    ordered = sorted(spans, key=_IN_START_ORDER)
    root = next((s for s in ordered if s.parent_span_id is None), ordered[0])
    end = ordered[0].end_time
    error_count = 0
    llm_failed = False
    first_error = agent = versioned = session = model = finish = with_text = with_messages = output = None
    agent_rank = version_rank = _NO_SOURCE + 1
    input_tokens: list[int] = []
    output_tokens: list[int] = []
    total_tokens: list[int] = []
    costs: list[float] = []
    for s in ordered:
        end = max(end, s.end_time)
        if s.status == "error":
            error_count += 1
            first_error = first_error or s
        if s.kind == "llm":
            llm_failed = llm_failed or s.status == "error"
            if s.model is not None and _ends_later(s, model):
                model = s
            if s.finish_reason is not None and _ends_later(s, finish):
                finish = s
            if s.input_tokens is not None:
                input_tokens.append(s.input_tokens)
            if s.output_tokens is not None:
                output_tokens.append(s.output_tokens)
            if s.total_tokens is not None:
                total_tokens.append(s.total_tokens)
            if s.cost_usd is not None:
                costs.append(s.cost_usd)
        rank = _NO_SOURCE if s.agent_source is None else s.agent_source
        if s.agent_key is not None and rank < agent_rank:
            agent, agent_rank = s, rank
        if s.agent_version is not None and rank < version_rank:
            versioned, version_rank = s, rank
        if s.session_id is not None:
            session = session or s
        if s.input_text is not None:
            with_text = with_text or s
        if s.input_messages is not None:
            with_messages = with_messages or s
        if s.output_text is not None and _ends_later(s, output):
            output = s
    root_failed = root.status == "error"
    if root_failed:
        first_error = root
    if root.input_text is not None:
        with_text = with_messages = root
    if root.output_text is not None:
        output = root
    start = ordered[0].start_time
    return TraceRollup(
        trace_id=root.trace_id,
        root_span_id=root.span_id,
        name=root.name,
        agent_key=agent.agent_key if agent else None,
        agent_id=agent.agent_id if agent else None,
        agent_version=versioned.agent_version if versioned else None,
        service_name=root.service_name,
        session_id=session.session_id if session else None,
        start_time=start,
        end_time=end,
        duration_ms=(end - start) // _MICROSECOND / 1000,
        span_count=len(ordered),
        error_count=error_count,
        status="error" if root_failed or llm_failed else "ok",
        error_type=first_error.error_type if first_error else None,
        error_message=first_error.error_message if first_error else None,
        model=model.model if model else None,
        finish_reason=finish.finish_reason if finish else None,
        input_text=with_text.input_text if with_text else None,
        input_messages=with_messages.input_messages if with_messages else None,
        output_text=output.output_text if output else None,
        input_tokens=sum(input_tokens) if input_tokens else None,
        output_tokens=sum(output_tokens) if output_tokens else None,
        total_tokens=sum(total_tokens) if total_tokens else None,
        cost_usd=math.fsum(costs) if costs else None,
    )


def roll_up_traces(spans: Iterable[SpanFacts]) -> list[TraceRollup]:
    """One roll-up per trace of `spans` (all the spans of each), by trace id."""
    by_trace: dict[str, list[SpanFacts]] = {}
    for s in spans:
        by_trace.setdefault(s.trace_id, []).append(s)
    return [roll_up(by_trace[trace_id]) for trace_id in sorted(by_trace)]
