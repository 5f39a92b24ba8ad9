"""Dashboard: the control plane, the morning briefing and the workflow overview of a workspace."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from spectral.platform.dashboard import service
from spectral.platform.dashboard.schemas import ControlPlaneRead, MorningBriefingRead, WorkflowOverviewRead
from spectral.platform.shared.schema_types import IsoDateTime
from spectral_api.auth import WorkspaceRead
from spectral_api.dependencies import DbSession
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["Dashboard"])


@router.get(
    "/control-plane",
    responses=problem_responses(401, 403, 404),
    summary="Each agent now: version, last 24 h of traffic, latest scan, change sets awaiting review",
)
async def control_plane(
    workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> ControlPlaneRead:
    return await service.control_plane(session, principal)


@router.get(
    "/morning-briefing",
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="What happened since a time (default: 24 h ago), in numbers and plain lines",
)
async def morning_briefing(
    workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession, since: IsoDateTime | None = None
) -> MorningBriefingRead:
    return await service.morning_briefing(session, principal, since)


@router.get(
    "/workflow-overview",
    responses=problem_responses(401, 403, 404),
    summary="Counts per stage of the loop and the next steps still missing",
)
async def workflow_overview(
    workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> WorkflowOverviewRead:
    return await service.workflow_overview(session, principal)
