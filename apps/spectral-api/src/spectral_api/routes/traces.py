"""Traces: native JSON ingest (same normaliser as OTLP), browsing with filters, detail with the
span tree, and feedback."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from spectral.platform.evaluations import online
from spectral.platform.shared.pagination import Page
from spectral.platform.traces import service as traces_service
from spectral.platform.traces.schemas import (
    FeedbackCreate,
    FeedbackRead,
    IngestResult,
    TraceDetail,
    TraceQueryParams,
    TracesIngest,
    TraceSummary,
)
from spectral_api.auth import SpansWrite, TracesWrite, WorkspaceRead
from spectral_api.dependencies import AppStateDep, DbSession, Pagination
from spectral_api.middleware import BOUNDS_OWN_NESTING_EXTENSION
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/traces", tags=["Traces"])


@router.post(
    "",
    response_model=IngestResult,
    summary="Ingest spans as JSON (native format)",
    responses=problem_responses(400, 401, 403, 404, 415, 422, 429, 503),
    # Spans bound their own nesting: a span nested too deep is rejected, the others stored.
    openapi_extra={BOUNDS_OWN_NESTING_EXTENSION: True},
)
async def ingest_traces(
    workspace_id: uuid.UUID,
    body: TracesIngest,
    principal: SpansWrite,
    session: DbSession,
    state: AppStateDep,
) -> IngestResult:
    result = await traces_service.ingest_native(
        session,
        principal,
        body,
        state.ingest_gate,
        state.ingest_quota,
        retention=state.trace_retention,
        agents=state.agent_directories,
    )
    await online.defer_online_scoring(
        session, workspace_id, result.trace_ids, [s.span_id for s in body.spans], state.agent_directories
    )
    return result


@router.get(
    "",
    response_model=Page[TraceSummary],
    summary="List traces",
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_traces(
    workspace_id: uuid.UUID,
    query: Annotated[TraceQueryParams, Query()],
    principal: WorkspaceRead,
    session: DbSession,
    page: Pagination,
) -> Page[TraceSummary]:
    return await traces_service.list_traces(session, principal, query, page)


@router.get(
    "/{trace_id}",
    response_model=TraceDetail,
    summary="A trace with its span tree, totals, scores and feedback",
    responses=problem_responses(400, 401, 403, 404),
)
async def get_trace(
    workspace_id: uuid.UUID, trace_id: str, principal: WorkspaceRead, session: DbSession
) -> TraceDetail:
    return await traces_service.get_trace(session, principal, trace_id)


@router.post(
    "/{trace_id}/feedback",
    response_model=FeedbackRead,
    status_code=201,
    summary="Give feedback on a trace (thumbs, score, label or comment)",
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def add_feedback(
    workspace_id: uuid.UUID,
    trace_id: str,
    body: FeedbackCreate,
    principal: TracesWrite,
    session: DbSession,
    request: Request,
    response: Response,
) -> FeedbackRead:
    feedback = await traces_service.add_feedback(session, principal, trace_id, body)
    response.headers["Location"] = str(
        request.url_for("list_feedback", workspace_id=workspace_id, trace_id=feedback.trace_id).path
    )
    return feedback


@router.get(
    "/{trace_id}/feedback",
    response_model=Page[FeedbackRead],
    summary="Feedback on a trace",
    responses=problem_responses(400, 401, 403, 404),
)
async def list_feedback(
    workspace_id: uuid.UUID, trace_id: str, principal: WorkspaceRead, session: DbSession, page: Pagination
) -> Page[FeedbackRead]:
    return await traces_service.list_feedback(session, principal, trace_id, page)
