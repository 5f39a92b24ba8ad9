"""Rubrics: scoring dimensions, each with a scorer validated per type by the engine."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from spectral.platform.evaluations import online, service
from spectral.platform.evaluations.schemas import (
    RescoreStarted,
    RubricCreate,
    RubricDraft,
    RubricGenerate,
    RubricRead,
    RubricScoresRead,
    RubricSuggestions,
    RubricUpdate,
)
from spectral.platform.shared.pagination import Page
from spectral_api.auth import WorkspaceRead, WorkspaceWrite
from spectral_api.dependencies import AppStateDep, DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/evaluations/rubrics", tags=["Rubrics"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
    summary="Create a rubric",
)
async def create_rubric(
    workspace_id: uuid.UUID,
    body: RubricCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    state: AppStateDep,
    response: Response,
) -> RubricRead:
    rubric = await service.create_rubric(session, principal, body, scoring=state.scoring)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/evaluations/rubrics/{rubric.id}"
    return rubric


@router.post(
    "/generate",
    responses={
        201: {"description": "`save`: the draft was stored as a rubric (see Location)"},
        **problem_responses(400, 401, 403, 404, 409, 422, 503),
    },
    summary="Draft a rubric from an agent's traces (no LLM); `save` stores it (201 with Location)",
)
async def generate_rubric(
    workspace_id: uuid.UUID,
    body: RubricGenerate,
    principal: WorkspaceWrite,
    session: DbSession,
    state: AppStateDep,
    response: Response,
) -> RubricDraft:
    draft = await service.generate_rubric(session, principal, body, scoring=state.scoring)
    if draft.rubric is not None:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = (
            f"/api/v1/workspaces/{workspace_id}/evaluations/rubrics/{draft.rubric.id}"
        )
    return draft


@router.get("", responses=problem_responses(401, 403, 404), summary="List rubrics")
async def list_rubrics(
    workspace_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    page: Pagination,
    agent_id: Annotated[uuid.UUID | None, Query(description="only rubrics drafted for this agent")] = None,
) -> Page[RubricRead]:
    return await service.list_rubrics(session, principal, page, agent_id=agent_id)


@router.get("/{rubric_id}", responses=problem_responses(401, 403, 404), summary="Get a rubric")
async def get_rubric(
    workspace_id: uuid.UUID, rubric_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> RubricRead:
    return await service.get_rubric(session, principal, rubric_id)


@router.patch(
    "/{rubric_id}",
    responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
    summary="Change a rubric (dimensions are replaced as a whole)",
)
async def update_rubric(
    workspace_id: uuid.UUID,
    rubric_id: uuid.UUID,
    body: RubricUpdate,
    principal: WorkspaceWrite,
    session: DbSession,
    state: AppStateDep,
) -> RubricRead:
    return await service.update_rubric(session, principal, rubric_id, body, scoring=state.scoring)


@router.delete(
    "/{rubric_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 401, 403, 404, 409),
    summary="Delete a rubric no objective uses",
)
async def delete_rubric(
    workspace_id: uuid.UUID, rubric_id: uuid.UUID, principal: WorkspaceWrite, session: DbSession
) -> None:
    await service.delete_rubric(session, principal, rubric_id)


@router.get(
    "/{rubric_id}/suggestions",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
    summary="Blind spots: traces with negative feedback or errors that pass every dimension, grouped",
)
async def rubric_suggestions(
    workspace_id: uuid.UUID,
    rubric_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    state: AppStateDep,
    agent_id: Annotated[uuid.UUID | None, Query(description="unset = the rubric's own agent")] = None,
    limit: Annotated[int, Query(ge=10, le=50_000, description="traces to read")] = 5000,
) -> RubricSuggestions:
    return await service.rubric_suggestions(
        session, principal, rubric_id, agent_id=agent_id, limit=limit, scoring=state.scoring
    )


@router.post(
    "/{rubric_id}/rescore",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(400, 401, 403, 404),
    summary="Re-score the traces of the agents that score online with this rubric (its current version)",
)
async def rescore_rubric(
    workspace_id: uuid.UUID,
    rubric_id: uuid.UUID,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> RescoreStarted:
    started = await online.start_rescore(session, principal, rubric_id)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/evaluations/rubrics/{rubric_id}/scores"
    return started


@router.get(
    "/{rubric_id}/scores",
    responses=problem_responses(401, 403, 404),
    summary="Traces scored with each version of the rubric (a rescore's progress)",
)
async def rubric_scores(
    workspace_id: uuid.UUID, rubric_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> RubricScoresRead:
    return await online.rubric_scores(session, principal, rubric_id)
