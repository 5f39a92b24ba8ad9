"""Change sets: list, read (with explainability), and the lifecycle transitions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from spectral.engine.types import Verdict
from spectral.platform.changesets import service
from spectral.platform.changesets.lifecycle import ChangeSetStatus
from spectral.platform.changesets.schemas import ChangeSetAccept, ChangeSetRead, ChangeSetReject
from spectral.platform.shared.pagination import Page
from spectral_api.auth import AgentsApprove, WorkspaceRead, WorkspaceWrite
from spectral_api.dependencies import DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/changesets", tags=["Changesets"])


@router.get("", responses=problem_responses(401, 403, 404, 422), summary="List change sets")
async def list_changesets(
    workspace_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    page: Pagination,
    agent_id: uuid.UUID | None = None,
    scan_id: uuid.UUID | None = None,
    status_: Annotated[ChangeSetStatus | None, Query(alias="status")] = None,
    verdict: Verdict | None = None,
) -> Page[ChangeSetRead]:
    rows, total = await service.list_changesets(
        session, workspace_id, page, agent_id=agent_id, status=status_, scan_id=scan_id, verdict=verdict
    )
    return Page.of(rows, total=total, params=page)


@router.get(
    "/{changeset_id}",
    responses=problem_responses(401, 403, 404),
    summary="A change set: diff, rationale, clusters, evidence, experiment and validation figures",
)
async def get_changeset(
    workspace_id: uuid.UUID, changeset_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> ChangeSetRead:
    return await service.read_changeset(session, workspace_id, changeset_id)


@router.post(
    "/{changeset_id}/accept",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Accept: promote the candidate config as the agent's new active version "
    '(a `reject` verdict needs {"override": true})',
)
async def accept_changeset(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    principal: AgentsApprove,
    session: DbSession,
    body: ChangeSetAccept | None = None,
) -> ChangeSetRead:
    override = body.override if body is not None else False
    return await service.accept(session, principal, workspace_id, changeset_id, override=override)


@router.post(
    "/{changeset_id}/apply",
    responses=problem_responses(400, 401, 403, 404, 409),
    summary="Apply: write the changed templates as new managed template versions",
)
async def apply_changeset(
    workspace_id: uuid.UUID, changeset_id: uuid.UUID, principal: AgentsApprove, session: DbSession
) -> ChangeSetRead:
    return await service.apply(session, principal, workspace_id, changeset_id)


@router.post(
    "/{changeset_id}/reject",
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Reject with a reason",
)
async def reject_changeset(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    body: ChangeSetReject,
    principal: WorkspaceWrite,
    session: DbSession,
) -> ChangeSetRead:
    return await service.reject(session, principal, workspace_id, changeset_id, body.reason)


@router.post(
    "/{changeset_id}/rollback",
    responses=problem_responses(400, 401, 403, 404, 409),
    summary="Roll back: re-activate the previous config version and restore the templates",
)
async def rollback_changeset(
    workspace_id: uuid.UUID, changeset_id: uuid.UUID, principal: AgentsApprove, session: DbSession
) -> ChangeSetRead:
    return await service.rollback(session, principal, workspace_id, changeset_id)
