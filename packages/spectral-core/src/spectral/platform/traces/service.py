"""Use cases of the traces context: ingest (OTLP and native, one normaliser, one write path),
browsing, feedback and ingest stats. Services flush, never commit."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.agents.repository import get_agent
from spectral.platform.agents.service import DirectoryCache, agent_directory
from spectral.platform.identity.principal import Principal
from spectral.platform.models.pricing import PriceCatalog, default_catalog
from spectral.platform.shared import metrics
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.errors import ForbiddenError
from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.traces import repository
from spectral.platform.traces.errors import TraceNotFoundError
from spectral.platform.traces.ingest_gate import IngestGate
from spectral.platform.traces.models import Span, Trace, TraceFeedback
from spectral.platform.traces.normalise import (
    SPAN_KINDS,
    STATUS_CODES,
    IngestBatch,
    NormalisedSpan,
    Resource,
    SpanEvent,
    SpanRejected,
    datetime_to_unix_nano,
    hex_id,
    normalise_span,
)
from spectral.platform.traces.otlp import PROTOBUF, decode_json, decode_protobuf
from spectral.platform.traces.quota import SpanQuota, spans_of
from spectral.platform.traces.repository import AgentMatch, TraceFilter
from spectral.platform.traces.retention import KEEP_FOREVER, TraceRetention
from spectral.platform.traces.schemas import (
    FeedbackCreate,
    FeedbackRead,
    FeedbackSummary,
    IngestResult,
    IngestStatsRead,
    ServiceIngestStats,
    SpanIn,
    SpanRead,
    TraceDetail,
    TraceQuery,
    TracesIngest,
    TraceSummary,
)
from spectral.platform.workspaces.audit import record_audit

_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def workspace_of(principal: Principal) -> uuid.UUID:
    if principal.workspace_id is None:
        raise ForbiddenError("This credential is not bound to a workspace")
    return principal.workspace_id


# ------------------------------------------------------------------------------------------------
# Ingest


async def store_batch(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    batch: IngestBatch,
    retention: TraceRetention = KEEP_FOREVER,
    agents: DirectoryCache | None = None,
) -> None:
    """Refuse spans past the retention, resolve agents (through the process's `agents` cache when
    given), store the spans (idempotently) and count the request."""
    now = utcnow()
    cutoff = retention.cutoff(now)
    if cutoff is not None:
        batch.refuse_started_before(cutoff, retention.refusal())
    keys = {span.agent_key for span in batch.spans if span.agent_key is not None}
    agent_ids = (await agent_directory(session, workspace_id, agents)).resolve(keys) if keys else {}
    await repository.store_spans(session, workspace_id, batch.spans, agent_ids, batch.by_service, now)
    metrics.SPANS.labels("accepted").inc(len(batch.spans))
    metrics.SPANS.labels("rejected").inc(batch.rejected)


async def ingest_otlp(
    session: AsyncSession,
    principal: Principal,
    body: bytes,
    media_type: str,
    gate: IngestGate,
    quota: SpanQuota,
    catalog: PriceCatalog | None = None,
    retention: TraceRetention = KEEP_FOREVER,
    agents: DirectoryCache | None = None,
) -> IngestBatch:
    """An OTLP ExportTraceServiceRequest (protobuf or OTLP/JSON): spans stored, rejects counted.
    Over the workspace's span quota, nothing is stored and the exporter is told when to retry."""
    workspace_id = workspace_of(principal)
    decode = decode_protobuf if media_type == PROTOBUF else decode_json
    batch = decode(body, catalog or default_catalog())
    await quota.take(workspace_id, spans_of(batch.received))
    async with gate.slot():
        await store_batch(session, workspace_id, batch, retention, agents)
    return batch


def _unix_nano(value_ns: int | None, value: datetime | None) -> int:
    if value_ns is not None:
        return value_ns
    return datetime_to_unix_nano(value) if value is not None else 0


def _native_span(span: SpanIn, resource: Resource, catalog: PriceCatalog) -> NormalisedSpan:
    return normalise_span(
        trace_id=hex_id(span.trace_id, length=32) or span.trace_id,
        span_id=hex_id(span.span_id, length=16) or span.span_id,
        parent_span_id=(hex_id(span.parent_span_id, length=16) or span.parent_span_id)
        if span.parent_span_id
        else None,
        name=span.name,
        span_kind=SPAN_KINDS.index(span.kind),
        start_unix_nano=_unix_nano(span.start_time_unix_nano, span.start_time),
        end_unix_nano=_unix_nano(span.end_time_unix_nano, span.end_time),
        status_code=STATUS_CODES.index(span.status),
        status_message=span.status_message,
        attributes=dict(span.attributes),
        events=[
            SpanEvent(event.name, _unix_nano(event.time_unix_nano, event.time), dict(event.attributes))
            for event in span.events
        ],
        links=None,
        resource=resource,
        scope_name=None,
        catalog=catalog,
    )


def native_batch(body: TracesIngest, catalog: PriceCatalog) -> IngestBatch:
    batch = IngestBatch.empty()
    shared: Resource | None = None
    shared_error = ""
    try:
        shared = Resource.of(dict(body.resource))
    except SpanRejected as exc:
        shared_error = str(exc)
    for position, span in enumerate(body.spans):
        resource, error = shared, shared_error
        if span.resource is not None:
            try:
                resource = Resource.of({**body.resource, **span.resource})
            except SpanRejected as exc:
                resource, error = None, str(exc)
        # `spans[3]: invalid span id 'zz'`: where in the request, as a validation error's `loc` says.
        if resource is None:
            batch.reject(f"spans[{position}]: resource attributes: {error}", batch.counts(None))
            continue
        counts = batch.counts(resource.service_name)
        try:
            normalised = _native_span(span, resource, catalog)
        except SpanRejected as exc:
            batch.reject(f"spans[{position}]: {exc}", counts)
        else:
            batch.accept(normalised, counts)
    return batch


async def ingest_native(
    session: AsyncSession,
    principal: Principal,
    body: TracesIngest,
    gate: IngestGate,
    quota: SpanQuota,
    catalog: PriceCatalog | None = None,
    retention: TraceRetention = KEEP_FOREVER,
    agents: DirectoryCache | None = None,
) -> IngestResult:
    """`POST {ws}/traces`: the same normaliser, quota and write path as OTLP."""
    workspace_id = workspace_of(principal)
    batch = native_batch(body, catalog or default_catalog())
    await quota.take(workspace_id, spans_of(batch.received))
    async with gate.slot():
        await store_batch(session, workspace_id, batch, retention, agents)
    return IngestResult(
        accepted=len(batch.spans),
        rejected=batch.rejected,
        errors=batch.reasons or [],
        trace_ids=sorted({span.trace_id for span in batch.spans}),
    )


async def ingest_stats(session: AsyncSession, principal: Principal) -> IngestStatsRead:
    workspace_id = workspace_of(principal)
    rows = await repository.ingest_stats(session, workspace_id)
    services = [
        ServiceIngestStats(
            service_name=row.service_name or None,
            received=row.received,
            accepted=row.accepted,
            rejected=row.rejected,
            last_received_at=row.last_received_at,
        )
        for row in rows
    ]
    return IngestStatsRead(
        workspace_id=workspace_id,
        received=sum(s.received for s in services),
        accepted=sum(s.accepted for s in services),
        rejected=sum(s.rejected for s in services),
        last_received_at=max((s.last_received_at for s in services if s.last_received_at), default=None),
        by_service=services,
    )


# ------------------------------------------------------------------------------------------------
# Browsing


async def agent_match(session: AsyncSession, workspace_id: uuid.UUID, agent: str) -> AgentMatch:
    """An agent named by id or slug: its traces are those resolved to it at ingest and those whose
    agent key is its slug or id (sent before the agent was created)."""
    try:
        agent_uuid: uuid.UUID | None = uuid.UUID(agent)
    except ValueError:
        agent_uuid = None
    if agent_uuid is not None:
        found = await get_agent(session, workspace_id, agent_uuid)
        keys = {str(agent_uuid), agent}
        if found is not None:
            keys.add(found.slug)
        return AgentMatch(agent_id=agent_uuid, keys=frozenset(keys))
    resolved = (await agent_directory(session, workspace_id)).resolve([agent]).get(agent)
    keys = {agent} if resolved is None else {agent, str(resolved)}
    return AgentMatch(agent_id=resolved, keys=frozenset(keys))


def _summary_fields(trace: Trace) -> dict[str, object]:
    return {
        "trace_id": trace.trace_id,
        "name": trace.name,
        "agent_key": trace.agent_key,
        "agent_id": trace.agent_id,
        "agent_version": trace.agent_version,
        "service_name": trace.service_name,
        "session_id": trace.session_id,
        "start_time": trace.start_time,
        "end_time": trace.end_time,
        "duration_ms": trace.duration_ms,
        "span_count": trace.span_count,
        "error_count": trace.error_count,
        "status": trace.status,
        "error_type": trace.error_type,
        "error_message": trace.error_message,
        "model": trace.model,
        "finish_reason": trace.finish_reason,
        "input": trace.input_messages if trace.input_messages else trace.input_text,
        "output": trace.output_text,
        "input_tokens": trace.input_tokens,
        "output_tokens": trace.output_tokens,
        "total_tokens": trace.total_tokens,
        "cost_usd": trace.cost_usd,
        "score": trace.score,
    }


async def list_traces(
    session: AsyncSession, principal: Principal, query: TraceQuery, page: PageParams
) -> Page[TraceSummary]:
    workspace_id = workspace_of(principal)
    filters = TraceFilter(
        agent=await agent_match(session, workspace_id, query.agent) if query.agent else None,
        start=query.start,
        end=query.end,
        status=query.status,
        model=query.model,
        has_feedback=query.has_feedback,
        min_score=query.min_score,
        max_score=query.max_score,
        search=query.q,
    )
    traces, total = await repository.list_traces(session, workspace_id, filters, page)
    return Page[TraceSummary].of(
        [TraceSummary.model_validate(_summary_fields(trace)) for trace in traces], total=total, params=page
    )


# Levels of `children` a trace detail nests. Deeper spans are listed, in order, under their ancestor
# at this level (their `parent_span_id` still names the real parent): response serialisation stops
# at ~250 levels, and a 200-span chain is valid data.
MAX_TREE_DEPTH = 32


def span_tree(spans: Sequence[Span]) -> list[SpanRead]:
    """Root spans with their children nested, each level in start order. A span whose parent has
    not arrived (yet), names itself, or lies on a cycle of parents is shown as a root; every span
    appears exactly once."""
    reads = {
        span.span_id: SpanRead.model_validate(span.model_dump(exclude={"workspace_id", "trace_id"}))
        for span in spans
    }
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for span in spans:
        parent = span.parent_span_id
        if parent and parent != span.span_id and parent in reads:
            children.setdefault(parent, []).append(span.span_id)
        else:
            roots.append(span.span_id)
    placed: set[str] = set()
    tree: list[SpanRead] = []

    def grow(root: str) -> None:
        placed.add(root)
        tree.append(reads[root])
        # (span, the read its children join, the level of those children)
        pending = [(root, reads[root], 2)]
        while pending:
            span_id, holder, level = pending.pop()
            for child in children.get(span_id, ()):
                if child in placed:
                    continue
                placed.add(child)
                holder.children.append(reads[child])
                if level < MAX_TREE_DEPTH:
                    pending.append((child, reads[child], level + 1))
                else:
                    pending.append((child, holder, level))

    for root in roots:
        grow(root)
    for span in spans:
        if span.span_id not in placed:  # on a cycle of parents: no root leads to it
            grow(span.span_id)
    return tree


def _trace_id(value: str) -> str:
    trace_id = value.strip().lower()
    if _TRACE_ID.fullmatch(trace_id) is None:
        raise TraceNotFoundError.of(value)
    return trace_id


async def get_trace(session: AsyncSession, principal: Principal, trace_id: str) -> TraceDetail:
    workspace_id = workspace_of(principal)
    trace = await repository.get_trace(session, workspace_id, _trace_id(trace_id))
    if trace is None:
        raise TraceNotFoundError.of(trace_id)
    spans = await repository.spans_of(session, workspace_id, [trace])
    feedback = [
        FeedbackRead.model_validate(item)
        for item in await repository.feedback_of(session, workspace_id, trace.trace_id)
    ]
    scored = [item.score for item in feedback if item.score is not None]
    return TraceDetail.model_validate(
        {
            **_summary_fields(trace),
            "spans": span_tree(spans),
            "scores": trace.scores,
            "feedback": feedback,
            "feedback_summary": FeedbackSummary(
                count=len(feedback), mean_score=sum(scored) / len(scored) if scored else None
            ),
        }
    )


# ------------------------------------------------------------------------------------------------
# Feedback


async def add_feedback(
    session: AsyncSession, principal: Principal, trace_id: str, body: FeedbackCreate
) -> FeedbackRead:
    workspace_id = workspace_of(principal)
    trace_id = _trace_id(trace_id)
    if not await repository.trace_exists(session, workspace_id, trace_id):
        raise TraceNotFoundError.of(trace_id)
    feedback = TraceFeedback(
        workspace_id=workspace_id,
        trace_id=trace_id,
        kind=body.kind,
        value=body.value,
        score=body.score,
        label=body.label,
        comment=body.comment_text,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
    )
    repository.add_feedback(session, feedback)
    await session.flush()
    read = FeedbackRead.model_validate(feedback)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="trace.feedback",
        resource_type="trace",
        resource_id=trace_id,
        after=read.model_dump(mode="json"),
    )
    return read


async def list_feedback(
    session: AsyncSession, principal: Principal, trace_id: str, page: PageParams
) -> Page[FeedbackRead]:
    workspace_id = workspace_of(principal)
    trace_id = _trace_id(trace_id)
    if not await repository.trace_exists(session, workspace_id, trace_id):
        raise TraceNotFoundError.of(trace_id)
    items, total = await repository.feedback_page(session, workspace_id, trace_id, page)
    return Page[FeedbackRead].of(
        [FeedbackRead.model_validate(item) for item in items], total=total, params=page
    )
