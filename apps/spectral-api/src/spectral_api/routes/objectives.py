"""Objectives: weights on quality, cost and latency, and hard constraints, over a rubric."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from spectral.platform.evaluations import service
from spectral.platform.evaluations.schemas import ObjectiveCreate, ObjectiveRead, ObjectiveUpdate
from spectral.platform.shared.pagination import Page
from spectral_api.auth import WorkspaceRead, WorkspaceWrite
from spectral_api.dependencies import DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/evaluations/objectives", tags=["Objectives"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Create an objective over a rubric",
)
async def create_objective(
    workspace_id: uuid.UUID,
    body: ObjectiveCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> ObjectiveRead:
    objective = await service.create_objective(session, principal, body)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/evaluations/objectives/{objective.id}"
    return objective


@router.get("", responses=problem_responses(401, 403, 404), summary="List objectives")
async def list_objectives(
    workspace_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    page: Pagination,
    rubric_id: Annotated[uuid.UUID | None, Query(description="only objectives over this rubric")] = None,
) -> Page[ObjectiveRead]:
    return await service.list_objectives(session, principal, page, rubric_id=rubric_id)


@router.get("/{objective_id}", responses=problem_responses(401, 403, 404), summary="Get an objective")
async def get_objective(
    workspace_id: uuid.UUID, objective_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> ObjectiveRead:
    return await service.get_objective(session, principal, objective_id)


@router.patch(
    "/{objective_id}",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Change an objective",
)
async def update_objective(
    workspace_id: uuid.UUID,
    objective_id: uuid.UUID,
    body: ObjectiveUpdate,
    principal: WorkspaceWrite,
    session: DbSession,
) -> ObjectiveRead:
    return await service.update_objective(session, principal, objective_id, body)


@router.delete(
    "/{objective_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 401, 403, 404),
    summary="Delete an objective",
)
async def delete_objective(
    workspace_id: uuid.UUID, objective_id: uuid.UUID, principal: WorkspaceWrite, session: DbSession
) -> None:
    await service.delete_objective(session, principal, objective_id)
