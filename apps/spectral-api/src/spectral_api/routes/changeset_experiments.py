"""Experiments: a candidate config (or a change set's) against the active one on a sample set."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from spectral.platform.changesets import service
from spectral.platform.changesets.schemas import ExperimentCreate, ExperimentRead
from spectral.platform.shared.pagination import Page
from spectral_api.auth import WorkspaceRead, WorkspaceWrite
from spectral_api.dependencies import DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/workspaces/{workspace_id}/changesets/experiments", tags=["Changeset Experiments"]
)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Start an experiment (replays run in the background)",
)
async def start_experiment(
    workspace_id: uuid.UUID,
    body: ExperimentCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> ExperimentRead:
    experiment = await service.start_experiment(session, principal, workspace_id, body)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/changesets/experiments/{experiment.id}"
    return ExperimentRead.model_validate(experiment, from_attributes=True)


@router.get("", responses=problem_responses(401, 403, 404), summary="List experiments")
async def list_experiments(
    workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession, page: Pagination
) -> Page[ExperimentRead]:
    rows, total = await service.list_experiments(session, workspace_id, page)
    return Page.of(
        [ExperimentRead.model_validate(r, from_attributes=True) for r in rows], total=total, params=page
    )


@router.get(
    "/{experiment_id}",
    responses=problem_responses(401, 403, 404),
    summary="An experiment: per-sample baseline vs candidate, and the aggregate",
)
async def get_experiment(
    workspace_id: uuid.UUID, experiment_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> ExperimentRead:
    experiment = await service.get_experiment(session, workspace_id, experiment_id)
    return ExperimentRead.model_validate(experiment, from_attributes=True)
