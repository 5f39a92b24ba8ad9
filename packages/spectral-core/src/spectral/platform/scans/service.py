"""Scan use cases: start (202 + enqueue after commit), read, cancel, events, cost, report, schedules.

The scan itself runs in `scans.jobs`; this module only writes rows and defers jobs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from croniter import croniter
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.report import report_json
from spectral.engine.types import CostEntry, ReplayUsage, ScanReport
from spectral.platform.identity.principal import Principal
from spectral.platform.models import repository as models_repository
from spectral.platform.scans import repository
from spectral.platform.scans.inputs import ensure_scan_references
from spectral.platform.scans.lifecycle import SCAN_LIFECYCLE, TERMINAL, ScanAction, ScanStatus
from spectral.platform.scans.models import Scan, ScanEvent, ScanSchedule
from spectral.platform.scans.schemas import (
    ModelCost,
    ReplayBudgetRead,
    ScanCostRead,
    ScanCreate,
    ScanFailure,
    ScanHealth,
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
)
from spectral.platform.shared import metrics
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.db import after_commit
from spectral.platform.shared.errors import BusinessRuleViolationError, RateLimitedError
from spectral.platform.shared.pagination import PageParams
from spectral.platform.shared.queue import SCAN_QUEUE, refuse_when_busy
from spectral.platform.shared.settings import Settings
from spectral.platform.shared.unit_of_work import defer_job
from spectral.platform.workspaces.audit import record_audit

log = logging.getLogger("spectral.scans")

RUN_SCAN_JOB = "run_scan"
MAX_EVENTS_PAGE = 500


def scan_job_id(scan: Scan) -> str:
    """The first run's job id is the scan id (enqueueing twice runs once); a re-run after a lost
    worker gets a suffix, because the broker still remembers the first job."""
    return str(scan.id) if scan.attempts == 0 else f"{scan.id}:attempt-{scan.attempts + 1}"


def defer_scan_run(session: AsyncSession, scan: Scan) -> None:
    defer_job(session, RUN_SCAN_JOB, scan_job_id(scan), queue=SCAN_QUEUE, scan_id=str(scan.id))


async def create_scan(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    body: ScanCreate,
    *,
    created_by: str,
    schedule_id: uuid.UUID | None = None,
) -> Scan:
    await ensure_scan_references(session, workspace_id, body)
    refuse_when_busy("scans", await repository.count_active_scans(session, workspace_id))
    scan = Scan(
        workspace_id=workspace_id,
        agent_id=body.agent_id,
        rubric_id=body.rubric_id,
        objective_id=body.objective_id,
        sample_set_id=body.sample_set_id,
        schedule_id=schedule_id,
        status=ScanStatus.QUEUED,
        parameters=body.model_dump(mode="json"),
        created_by=created_by,
    )
    session.add(scan)
    await session.flush()
    defer_scan_run(session, scan)
    return scan


async def start_scan(
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID, body: ScanCreate
) -> Scan:
    scan = await create_scan(session, workspace_id, body, created_by=principal.actor)
    await record_audit(
        session, principal, workspace_id, action="scan.start", resource_type="scan", resource_id=str(scan.id)
    )
    return scan


async def get_scan(session: AsyncSession, workspace_id: uuid.UUID, scan_id: uuid.UUID) -> Scan:
    return await repository.get_scan(session, workspace_id, scan_id)


async def list_scans(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageParams,
    *,
    agent_id: uuid.UUID | None,
    status: ScanStatus | None,
) -> tuple[Sequence[Scan], int]:
    return await repository.list_scans(session, workspace_id, page, agent_id=agent_id, status=status)


def finish_scan(session: AsyncSession, scan: Scan, action: ScanAction, finished_at: datetime) -> None:
    """Every scan ends here: `action` takes it to its final status, counted in the finished-scans
    series once the transaction commits."""
    status = ScanStatus(SCAN_LIFECYCLE.next_status(scan.id, scan.status, action))
    if status not in TERMINAL:
        raise ValueError(f"{action} does not finish a scan ({scan.status} -> {status})")
    scan.status, scan.finished_at = status, finished_at
    session.add(scan)
    after_commit(session, metrics.SCANS_FINISHED.labels(status.value).inc)


async def cancel_scan(
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID, scan_id: uuid.UUID
) -> Scan:
    """A queued scan is cancelled at once; a running one is asked to stop between batches."""
    scan = await repository.get_scan(session, workspace_id, scan_id)
    # A finished scan cannot be cancelled (the lifecycle says why); a running one stops itself.
    SCAN_LIFECYCLE.next_status(scan.id, scan.status, ScanAction.CANCEL)
    if scan.status == ScanStatus.QUEUED:
        finish_scan(session, scan, ScanAction.CANCEL, utcnow())
    scan.cancel_requested = True
    session.add(scan)
    await session.flush()
    await record_audit(
        session, principal, workspace_id, action="scan.cancel", resource_type="scan", resource_id=str(scan.id)
    )
    return scan


async def list_events(
    session: AsyncSession, workspace_id: uuid.UUID, scan_id: uuid.UUID, *, after: int | None, limit: int
) -> Sequence[ScanEvent]:
    await repository.get_scan(session, workspace_id, scan_id)
    return await repository.list_events(session, scan_id, after=after, limit=min(limit, MAX_EVENTS_PAGE))


def _next_run(cron: str, after: datetime) -> datetime:
    return as_utc(croniter(cron, as_utc(after)).get_next(datetime))


async def create_schedule(
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID, body: ScheduleCreate
) -> ScanSchedule:
    await ensure_scan_references(session, workspace_id, body.scan)
    schedule = ScanSchedule(
        workspace_id=workspace_id,
        name=body.name,
        cron=body.cron,
        parameters=body.scan.model_dump(mode="json"),
        enabled=body.enabled,
        next_run_at=_next_run(body.cron, utcnow()),
        created_by=principal.actor,
    )
    session.add(schedule)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="scan_schedule.create",
        resource_type="scan_schedule",
        resource_id=str(schedule.id),
        after={"name": schedule.name, "cron": schedule.cron, "enabled": schedule.enabled},
    )
    return schedule


async def update_schedule(
    session: AsyncSession,
    principal: Principal,
    workspace_id: uuid.UUID,
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
) -> ScanSchedule:
    schedule = await repository.get_schedule(session, workspace_id, schedule_id)
    before = {"name": schedule.name, "cron": schedule.cron, "enabled": schedule.enabled}
    if body.scan is not None:
        await ensure_scan_references(session, workspace_id, body.scan)
        schedule.parameters = body.scan.model_dump(mode="json")
    if body.name is not None:
        schedule.name = body.name
    if body.enabled is not None:
        schedule.enabled = body.enabled
    if body.cron is not None and body.cron != schedule.cron:
        schedule.cron = body.cron
        schedule.next_run_at = _next_run(body.cron, utcnow())
    schedule.updated_at = utcnow()
    session.add(schedule)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="scan_schedule.update",
        resource_type="scan_schedule",
        resource_id=str(schedule.id),
        before=before,
        after={"name": schedule.name, "cron": schedule.cron, "enabled": schedule.enabled},
    )
    return schedule


async def delete_schedule(
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID, schedule_id: uuid.UUID
) -> None:
    schedule = await repository.get_schedule(session, workspace_id, schedule_id)
    await session.delete(schedule)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="scan_schedule.delete",
        resource_type="scan_schedule",
        resource_id=str(schedule_id),
        before={"name": schedule.name, "cron": schedule.cron},
    )


async def start_due_scans(session: AsyncSession, now: datetime) -> list[Scan]:
    """The schedule tick: start one scan per due schedule. Two tickers racing on the same schedule
    both try to advance it from the same `next_run_at`; only one UPDATE matches, only it starts."""
    started: list[Scan] = []
    for schedule in await repository.due_schedules(session, now):
        expected = schedule.next_run_at
        won = await repository.advance_schedule(
            session, schedule, expected_next_run=expected, next_run=_next_run(schedule.cron, now), now=now
        )
        if not won:
            continue
        body = ScanCreate.model_validate(schedule.parameters)
        try:
            scan = await create_scan(
                session,
                schedule.workspace_id,
                body,
                created_by=f"schedule:{schedule.id}",
                schedule_id=schedule.id,
            )
        except RateLimitedError:
            # The workspace has as many runs as it may: this run is skipped, the next comes as due.
            log.warning("schedule %s skipped: its workspace has too many active scans", schedule.id)
            continue
        schedule.last_scan_id = scan.id
        session.add(schedule)
        started.append(scan)
    await session.flush()
    return started


def schedule_view(schedule: ScanSchedule) -> ScheduleRead:
    return ScheduleRead.model_validate({**schedule.model_dump(), "scan": schedule.parameters})


async def list_schedules(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[ScanSchedule], int]:
    return await repository.list_schedules(session, workspace_id, page)


async def get_schedule(
    session: AsyncSession, workspace_id: uuid.UUID, schedule_id: uuid.UUID
) -> ScanSchedule:
    return await repository.get_schedule(session, workspace_id, schedule_id)


async def scan_report(
    session: AsyncSession, workspace_id: uuid.UUID, scan_id: uuid.UUID
) -> tuple[bytes, str]:
    """The canonical report JSON (byte-identical for the same inputs and seed) and its markdown."""
    scan = await repository.get_scan(session, workspace_id, scan_id)
    if scan.report is None or scan.report_markdown is None:
        raise BusinessRuleViolationError(
            f"Scan {scan.id} is {scan.status}; its report is written when it succeeds"
        )
    return report_json(ScanReport.from_dict(scan.report)), scan.report_markdown


async def scan_cost(session: AsyncSession, workspace_id: uuid.UUID, scan_id: uuid.UUID) -> ScanCostRead:
    """Spend by model: the gateway's ledger for the scan (judge, rewrites) and the replays'
    reported cost from the scan's report."""
    scan = await repository.get_scan(session, workspace_id, scan_id)
    ledger = await models_repository.cost_by_model(session, workspace_id, scan_id)
    models = [
        ModelCost(
            model=row.model,
            source="gateway",
            calls=row.calls,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost_usd=row.cost_usd,
        )
        for row in ledger.models
    ] + [
        ModelCost(source="replay", **CostEntry.from_dict(entry).to_dict())
        for entry in (scan.report or {}).get("cost_ledger", [])
    ]
    replay = (scan.report or {}).get("replay")
    return ScanCostRead(
        scan_id=scan.id,
        budget_usd=float(scan.parameters.get("budget_usd", 0.0)),
        gateway_cost_usd=ledger.total_cost_usd,
        replay=None if replay is None else ReplayBudgetRead(**ReplayUsage.from_dict(replay).to_dict()),
        models=models,
        total_calls=sum(m.calls for m in models),
        total_input_tokens=sum(m.input_tokens for m in models),
        total_output_tokens=sum(m.output_tokens for m in models),
        total_cost_usd=round(sum(m.cost_usd for m in models), 6),
    )


async def scan_health(session: AsyncSession, workspace_id: uuid.UUID, settings: Settings) -> ScanHealth:
    now = utcnow()
    counts = await repository.scan_counts(
        session,
        workspace_id,
        failed_since=now - timedelta(hours=24),
        heartbeat_before=now - timedelta(seconds=settings.scan_stale_after_s),
    )
    last = counts.last_failure
    return ScanHealth(
        queued=counts.queued,
        running=counts.running,
        stale=counts.stale,
        failed_last_24h=counts.failed_since,
        last_failure=None
        if last is None
        else ScanFailure(scan_id=last.id, error=last.error, finished_at=last.finished_at),
    )
