"""Validation runs: a change set's candidate against its baseline on the scan's holdout."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from spectral.platform.changesets import service
from spectral.platform.changesets.schemas import ValidationRunRead
from spectral.platform.shared.pagination import Page
from spectral_api.auth import WorkspaceRead, WorkspaceWrite
from spectral_api.dependencies import DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/workspaces/{workspace_id}/changesets/{changeset_id}/validation",
    tags=["Changeset Validation"],
)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(400, 401, 403, 404),
    summary="Validate the change set on its scan's holdout (runs in the background)",
)
async def start_validation(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> ValidationRunRead:
    run = await service.start_validation(session, principal, workspace_id, changeset_id)
    response.headers["Location"] = (
        f"/api/v1/workspaces/{workspace_id}/changesets/{changeset_id}/validation/{run.id}"
    )
    return ValidationRunRead.model_validate(run, from_attributes=True)


@router.get("", responses=problem_responses(401, 403, 404), summary="List the change set's validation runs")
async def list_validation_runs(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    page: Pagination,
) -> Page[ValidationRunRead]:
    rows, total = await service.list_validation_runs(session, workspace_id, changeset_id, page)
    return Page.of(
        [ValidationRunRead.model_validate(r, from_attributes=True) for r in rows], total=total, params=page
    )


@router.get(
    "/{run_id}",
    responses=problem_responses(401, 403, 404),
    summary="A validation run: mean difference, 95% CI, p-value, verdict, constraint checks",
)
async def get_validation_run(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    run_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
) -> ValidationRunRead:
    run = await service.get_validation_run(session, workspace_id, changeset_id, run_id)
    return ValidationRunRead.model_validate(run, from_attributes=True)
