"""Reads for the contexts above traces: a window of an agent's traces as the engine's `Trace`
values (scans, rubric generation, samples from traces) and the prompts of LLM spans (template
inference). Both match an agent by id and by the keys it answers to (see `service.agent_match`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.types import Message, Span, ToolCall, Trace, TraceInput, TraceStatus
from spectral.platform.shared.clock import as_utc
from spectral.platform.traces import repository
from spectral.platform.traces.models import Span as SpanRow
from spectral.platform.traces.models import Trace as TraceRow
from spectral.platform.traces.repository import AgentMatch, LlmSpanPrompt, TraceFilter
from spectral.platform.traces.service import agent_match

# Spans are loaded for this many traces per statement (bounded IN lists).
_SPAN_CHUNK = 500
_TOOL_ARGUMENT_KEYS = ("gen_ai.tool.call.arguments", "tool.parameters", "tool_call.function.arguments")


def _trace_input(row: TraceRow) -> TraceInput:
    if row.input_messages:
        return tuple(Message.from_dict(message) for message in row.input_messages)
    return row.input_text or ""


def _tool_arguments(span: SpanRow) -> dict[str, Any]:
    for key in _TOOL_ARGUMENT_KEYS:
        value = span.attributes.get(key)
        if isinstance(value, dict):
            return value
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                return parsed
    if span.input_text:
        try:
            parsed = json.loads(span.input_text)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _engine_span(span: SpanRow) -> Span:
    attributes: dict[str, Any] = dict(span.attributes)
    for key, value in (
        ("model", span.model),
        ("input_tokens", span.input_tokens),
        ("output_tokens", span.output_tokens),
        ("cost_usd", span.cost_usd),
        ("finish_reason", span.finish_reason),
        ("tool_name", span.tool_name),
    ):
        if value is not None:
            attributes.setdefault(f"spectral.{key}", value)
    return Span(
        span_id=span.span_id,
        name=span.name,
        parent_span_id=span.parent_span_id,
        kind=span.kind,
        status=TraceStatus.ERROR if span.status == "error" else TraceStatus.OK,
        error_type=span.error_type,
        error_message=span.error_message,
        latency_ms=span.duration_ms,
        attributes=attributes,
    )


def to_engine_trace(row: TraceRow, spans: Sequence[SpanRow], feedback: Sequence[float]) -> Trace:
    """A stored trace as the engine sees it (spans in start order)."""
    tool_calls = tuple(
        ToolCall(
            name=span.tool_name or span.name,
            arguments=_tool_arguments(span),
            error=(span.error_message or span.error_type or "error") if span.status == "error" else None,
        )
        for span in spans
        if span.kind == "tool"
    )
    metadata: dict[str, Any] = {
        key: value
        for key, value in (
            ("agent_key", row.agent_key),
            ("agent_version", row.agent_version),
            ("service_name", row.service_name),
            ("name", row.name),
            ("score", row.score),
            ("start_time", as_utc(row.start_time).isoformat()),
        )
        if value is not None
    }
    return Trace(
        trace_id=row.trace_id,
        input=_trace_input(row),
        output=row.output_text or "",
        session_id=row.session_id,
        agent_id=str(row.agent_id) if row.agent_id is not None else row.agent_key,
        model=row.model,
        status=TraceStatus.ERROR if row.status == "error" else TraceStatus.OK,
        error_type=row.error_type,
        error_message=row.error_message,
        finish_reason=row.finish_reason,
        latency_ms=row.duration_ms,
        cost_usd=row.cost_usd,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        tool_calls=tool_calls,
        feedback=tuple(feedback),
        spans=tuple(_engine_span(span) for span in spans),
        metadata=metadata,
    )


async def _agent(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID | None, agent_slug: str | None
) -> AgentMatch | None:
    if agent_id is not None and agent_slug is not None:
        return AgentMatch(agent_id=agent_id, keys=frozenset({agent_slug, str(agent_id)}))
    if agent_id is not None:
        return await agent_match(session, workspace_id, str(agent_id))
    if agent_slug is not None:
        return await agent_match(session, workspace_id, agent_slug)
    return None


async def load_engine_traces(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    agent_id: uuid.UUID | None = None,
    agent_slug: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 10_000,
) -> list[Trace]:
    """The workspace's traces that started in [start, end), oldest first, at most `limit`, with
    spans, tool calls and feedback, as engine `Trace` values. With an agent (id and/or slug): its
    traces, including those sent before the agent existed (agent key = slug or id)."""
    filters = TraceFilter(
        agent=await _agent(session, workspace_id, agent_id, agent_slug), start=start, end=end
    )
    rows = await repository.traces_in_window(session, workspace_id, filters, limit=limit)
    traces: list[Trace] = []
    for offset in range(0, len(rows), _SPAN_CHUNK):
        chunk = rows[offset : offset + _SPAN_CHUNK]
        trace_ids = [row.trace_id for row in chunk]
        spans: dict[str, list[SpanRow]] = {}
        for span in await repository.spans_of(session, workspace_id, chunk):
            spans.setdefault(span.trace_id, []).append(span)
        feedback = await repository.feedback_scores(session, workspace_id, trace_ids)
        traces.extend(
            to_engine_trace(row, spans.get(row.trace_id, []), feedback.get(row.trace_id, [])) for row in chunk
        )
    return traces


async def llm_prompts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    agent_id: uuid.UUID | None = None,
    agent_slug: str | None = None,
    span_name: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[LlmSpanPrompt]:
    """The prompts (input messages, or input text) of LLM spans, newest first: the material template
    inference reads. Restricted to one agent (id and/or slug) and/or one span name when given."""
    return await repository.llm_span_prompts(
        session,
        workspace_id,
        agent=await _agent(session, workspace_id, agent_id, agent_slug),
        span_name=span_name,
        start=start,
        end=end,
        limit=limit,
    )
