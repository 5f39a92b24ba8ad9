"""Workspaces: create, read, update, delete, members, autonomy and health."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from spectral.platform.dashboard import health as dashboard_health
from spectral.platform.dashboard.health import WorkspaceHealthRead
from spectral.platform.shared.pagination import Page
from spectral.platform.workspaces import service
from spectral.platform.workspaces.schemas import (
    Autonomy,
    AutonomyRead,
    MemberRead,
    WorkspaceCreate,
    WorkspaceMemberCreate,
    WorkspaceMemberUpdate,
    WorkspaceRead,
    WorkspaceUpdate,
)
from spectral_api.auth import AccountAdmin, CurrentUser, WorkspaceAdmin
from spectral_api.auth import WorkspaceRead as WorkspaceReader
from spectral_api.dependencies import AppStateDep, DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces", tags=["Workspaces"])
WS = "/{workspace_id}"


@router.get("", responses=problem_responses(401, 403), summary="Workspaces the caller can reach")
async def list_workspaces(
    principal: CurrentUser, session: DbSession, page: Pagination
) -> Page[WorkspaceRead]:
    return await service.list_workspaces(session, principal, page)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 422),
    summary="Create a workspace in the caller's account",
)
async def create_workspace(
    body: WorkspaceCreate, principal: AccountAdmin, session: DbSession, response: Response
) -> WorkspaceRead:
    workspace = await service.create(session, principal, body)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace.id}"
    return workspace


@router.get(WS, responses=problem_responses(401, 403, 404), summary="A workspace")
async def get_workspace(
    workspace_id: uuid.UUID, principal: WorkspaceReader, session: DbSession
) -> WorkspaceRead:
    return await service.get(session, principal)


@router.patch(WS, responses=problem_responses(400, 401, 403, 404, 422), summary="Update a workspace")
async def update_workspace(
    workspace_id: uuid.UUID, body: WorkspaceUpdate, principal: WorkspaceAdmin, session: DbSession
) -> WorkspaceRead:
    return await service.update(session, principal, body)


@router.delete(
    WS,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
    summary="Delete a workspace",
)
async def delete_workspace(workspace_id: uuid.UUID, principal: WorkspaceAdmin, session: DbSession) -> None:
    await service.delete(session, principal)


@router.get(WS + "/members", responses=problem_responses(401, 403, 404), summary="Members of a workspace")
async def list_members(
    workspace_id: uuid.UUID, principal: WorkspaceReader, session: DbSession, page: Pagination
) -> Page[MemberRead]:
    return await service.list_members(session, principal, page)


@router.post(
    WS + "/members",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Give an account member a role in this workspace",
)
async def add_member(
    workspace_id: uuid.UUID,
    body: WorkspaceMemberCreate,
    principal: WorkspaceAdmin,
    session: DbSession,
    response: Response,
) -> MemberRead:
    member = await service.add_member(session, principal, body)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/members/{member.user_id}"
    return member


@router.patch(
    WS + "/members/{user_id}",
    responses=problem_responses(401, 403, 404, 422),
    summary="Change a member's role",
)
async def update_member(
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    body: WorkspaceMemberUpdate,
    principal: WorkspaceAdmin,
    session: DbSession,
) -> MemberRead:
    return await service.update_member(session, principal, user_id, body)


@router.delete(
    WS + "/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
    summary="Remove a member from the workspace",
)
async def remove_member(
    workspace_id: uuid.UUID, user_id: uuid.UUID, principal: WorkspaceAdmin, session: DbSession
) -> None:
    await service.remove_member(session, principal, user_id)


@router.get(
    WS + "/autonomy", responses=problem_responses(401, 403, 404), summary="Autonomy level and guardrails"
)
async def get_autonomy(
    workspace_id: uuid.UUID, principal: WorkspaceReader, session: DbSession
) -> AutonomyRead:
    return await service.get_autonomy(session, principal)


@router.put(
    WS + "/autonomy",
    responses=problem_responses(401, 403, 404, 422),
    summary="Set the autonomy level and guardrails",
)
async def set_autonomy(
    workspace_id: uuid.UUID, body: Autonomy, principal: WorkspaceAdmin, session: DbSession
) -> AutonomyRead:
    return await service.set_autonomy(session, principal, body)


@router.get(
    WS + "/health", responses=problem_responses(401, 403, 404), summary="The workspace's moving parts"
)
async def workspace_health(
    workspace_id: uuid.UUID, principal: WorkspaceReader, session: DbSession, state: AppStateDep
) -> WorkspaceHealthRead:
    return await dashboard_health.workspace_health(
        session, principal, db=state.db, queue=state.queue, settings=state.settings
    )
