"""Supervisor: its state, the next useful step, the nightly plan (and running it now), the
cost-quality frontier and the failures its latest scans found."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from spectral.platform.evaluations.quality import DropPolicy
from spectral.platform.supervisor import service
from spectral.platform.supervisor.schemas import (
    FailuresRead,
    FrontierReportRead,
    NextActionRead,
    NightlyPlanRead,
    NightlyRunRead,
    SupervisorStateRead,
)
from spectral_api.auth import WorkspaceRead, WorkspaceWrite
from spectral_api.dependencies import AppStateDep, DbSession
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/supervisor", tags=["Supervisor"])


@router.get(
    "/state",
    responses=problem_responses(401, 403, 404),
    summary="Autonomy and guardrails, recent supervisor actions, change sets waiting for a human",
)
async def supervisor_state(
    workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> SupervisorStateRead:
    return await service.state(session, principal)


@router.get(
    "/next-action", responses=problem_responses(401, 403, 404), summary="The single most useful next step"
)
async def next_action(
    workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession, state: AppStateDep
) -> NextActionRead:
    return await service.next_action(session, principal, DropPolicy.from_settings(state.settings))


@router.get(
    "/nightly-plan",
    responses=problem_responses(401, 403, 404),
    summary="The scans the supervisor would run tonight",
)
async def nightly_plan(
    workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> NightlyPlanRead:
    return await service.nightly_plan(session, principal)


@router.post(
    "/nightly-plan",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(400, 401, 403, 404),
    summary="Start tonight's planned scans now (they run in the background)",
)
async def run_nightly_plan(
    workspace_id: uuid.UUID, principal: WorkspaceWrite, session: DbSession, response: Response
) -> NightlyRunRead:
    run = await service.run_nightly_plan(session, principal)
    # Several scans may start; the list of the workspace's scans is where to follow them.
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/scans"
    return run


@router.get(
    "/frontier-report",
    responses=problem_responses(401, 403, 404),
    summary="Per agent and model (last 7 days): volume, quality, cost, and the Pareto frontier",
)
async def frontier_report(
    workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> FrontierReportRead:
    return await service.frontier_report(session, principal)


@router.get(
    "/failures",
    responses=problem_responses(401, 403, 404),
    summary="Failure clusters of each agent's latest succeeded scan, by impact, with their change sets",
)
async def failures(workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession) -> FailuresRead:
    return await service.failures(session, principal)
