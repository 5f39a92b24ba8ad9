"""Scans: start (202), read, cancel, events, cost, report; and the schedules that start them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import PlainTextResponse

from spectral.platform.scans import service
from spectral.platform.scans.lifecycle import ScanStatus
from spectral.platform.scans.schemas import (
    ScanCostRead,
    ScanCreate,
    ScanEventRead,
    ScanEventsPage,
    ScanRead,
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
)
from spectral.platform.shared.pagination import Page
from spectral.platform.shared.schema_types import NonNegativeInt64Param
from spectral_api.auth import WorkspaceRead, WorkspaceWrite
from spectral_api.dependencies import DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/scans", tags=["Scans"])


# Schedules first: `/scans/schedules` must not be read as a scan id.
@router.get("/schedules", responses=problem_responses(401, 403, 404), summary="List scan schedules")
async def list_schedules(
    workspace_id: uuid.UUID, principal: WorkspaceRead, session: DbSession, page: Pagination
) -> Page[ScheduleRead]:
    rows, total = await service.list_schedules(session, workspace_id, page)
    return Page.of([service.schedule_view(r) for r in rows], total=total, params=page)


@router.post(
    "/schedules",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Create a schedule (cron + scan parameters)",
)
async def create_schedule(
    workspace_id: uuid.UUID,
    body: ScheduleCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> ScheduleRead:
    schedule = await service.create_schedule(session, principal, workspace_id, body)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/scans/schedules/{schedule.id}"
    return service.schedule_view(schedule)


@router.get("/schedules/{schedule_id}", responses=problem_responses(401, 403, 404), summary="Read a schedule")
async def get_schedule(
    workspace_id: uuid.UUID, schedule_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> ScheduleRead:
    return service.schedule_view(await service.get_schedule(session, workspace_id, schedule_id))


@router.patch(
    "/schedules/{schedule_id}",
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Update a schedule",
)
async def update_schedule(
    workspace_id: uuid.UUID,
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
    principal: WorkspaceWrite,
    session: DbSession,
) -> ScheduleRead:
    schedule = await service.update_schedule(session, principal, workspace_id, schedule_id, body)
    return service.schedule_view(schedule)


@router.delete(
    "/schedules/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
    summary="Delete a schedule",
)
async def delete_schedule(
    workspace_id: uuid.UUID, schedule_id: uuid.UUID, principal: WorkspaceWrite, session: DbSession
) -> None:
    await service.delete_schedule(session, principal, workspace_id, schedule_id)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Start a scan (runs in the background)",
)
async def start_scan(
    workspace_id: uuid.UUID,
    body: ScanCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> ScanRead:
    scan = await service.start_scan(session, principal, workspace_id, body)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/scans/{scan.id}"
    return ScanRead.model_validate(scan, from_attributes=True)


@router.get("", responses=problem_responses(401, 403, 404, 422), summary="List scans")
async def list_scans(
    workspace_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    page: Pagination,
    agent_id: uuid.UUID | None = None,
    status_: Annotated[ScanStatus | None, Query(alias="status")] = None,
) -> Page[ScanRead]:
    rows, total = await service.list_scans(session, workspace_id, page, agent_id=agent_id, status=status_)
    return Page.of([ScanRead.model_validate(r, from_attributes=True) for r in rows], total=total, params=page)


@router.get(
    "/{scan_id}", responses=problem_responses(401, 403, 404), summary="Scan status, phase and summary"
)
async def get_scan(
    workspace_id: uuid.UUID, scan_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> ScanRead:
    scan = await service.get_scan(session, workspace_id, scan_id)
    return ScanRead.model_validate(scan, from_attributes=True)


@router.post(
    "/{scan_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(400, 401, 403, 404),
    summary="Cancel a scan (a running scan stops at its next batch)",
)
async def cancel_scan(
    workspace_id: uuid.UUID,
    scan_id: uuid.UUID,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> ScanRead:
    scan = await service.cancel_scan(session, principal, workspace_id, scan_id)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/scans/{scan.id}"
    return ScanRead.model_validate(scan, from_attributes=True)


@router.get(
    "/{scan_id}/events", responses=problem_responses(401, 403, 404, 422), summary="The scan's event log"
)
async def list_events(
    workspace_id: uuid.UUID,
    scan_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    after: Annotated[NonNegativeInt64Param | None, Query(description="return events after this id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ScanEventsPage:
    events = await service.list_events(session, workspace_id, scan_id, after=after, limit=limit)
    results = [ScanEventRead.model_validate(e, from_attributes=True) for e in events]
    return ScanEventsPage(results=results, next_after=results[-1].id if results else after)


@router.get(
    "/{scan_id}/cost", responses=problem_responses(401, 403, 404), summary="What the scan cost, by model"
)
async def get_cost(
    workspace_id: uuid.UUID, scan_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> ScanCostRead:
    return await service.scan_cost(session, workspace_id, scan_id)


@router.get(
    "/{scan_id}/report",
    responses={
        **problem_responses(400, 401, 403, 404),
        200: {"content": {"application/json": {}, "text/markdown": {}}},
    },
    summary="The scan report (JSON, or markdown with Accept: text/markdown)",
)
async def get_report(
    workspace_id: uuid.UUID,
    scan_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    report, markdown = await service.scan_report(session, workspace_id, scan_id)
    if accept and "text/markdown" in accept:
        return PlainTextResponse(markdown, media_type="text/markdown; charset=utf-8")
    return Response(report, media_type="application/json")
