"""All SQL of the scans context. Every read is scoped to a workspace, except the worker's own
(claim, heartbeat, reaper, schedule tick), which work on rows by id or across workspaces."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.scans.lifecycle import ScanStatus
from spectral.platform.scans.models import Scan, ScanEvent, ScanPhaseOutput, ScanSchedule
from spectral.platform.shared.errors import NotFoundError
from spectral.platform.shared.pagination import PageParams, fetch_page


async def get_scan(session: AsyncSession, workspace_id: uuid.UUID, scan_id: uuid.UUID) -> Scan:
    scan = (
        await session.exec(select(Scan).where(Scan.id == scan_id, Scan.workspace_id == workspace_id))
    ).first()
    if scan is None:
        raise NotFoundError.for_resource("Scan", scan_id)
    return scan


async def list_scans(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageParams,
    *,
    agent_id: uuid.UUID | None = None,
    status: str | None = None,
) -> tuple[Sequence[Scan], int]:
    filters: list[Any] = [Scan.workspace_id == workspace_id]
    if agent_id is not None:
        filters.append(Scan.agent_id == agent_id)
    if status is not None:
        filters.append(Scan.status == status)
    statement = select(Scan).where(*filters).order_by(col(Scan.created_at).desc(), col(Scan.id))
    return await fetch_page(session, statement, page)


async def load_scan(session: AsyncSession, scan_id: uuid.UUID) -> Scan | None:
    """The worker's read: by id alone (the job carries no principal)."""
    return await session.get(Scan, scan_id)


async def claim_scan(session: AsyncSession, scan_id: uuid.UUID, now: datetime) -> bool:
    """queued -> running, atomically: of two workers handed the same scan, one wins."""
    result = await session.exec(
        sa.update(Scan)
        .where(col(Scan.id) == scan_id, col(Scan.status) == ScanStatus.QUEUED)
        .values(
            status=ScanStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=Scan.attempts + 1,
            phase=None,
            progress=0.0,
            error=None,
        )
    )
    return bool(result.rowcount)


async def touch_scan(
    session: AsyncSession, scan_id: uuid.UUID, now: datetime, *, phase: str | None, progress: float | None
) -> None:
    """Heartbeat, and the phase and progress when given. Progress never goes backwards: a late or
    repeated write of a lower value (an event of an earlier phase, a re-run after the reaper)
    leaves the higher one."""
    values: dict[str, Any] = {"heartbeat_at": now}
    if phase is not None:
        values["phase"] = phase
    if progress is not None:
        values["progress"] = sa.case((col(Scan.progress) < progress, progress), else_=col(Scan.progress))
    await session.exec(
        sa.update(Scan)
        .where(col(Scan.id) == scan_id, col(Scan.status) == ScanStatus.RUNNING)
        .values(**values)
    )


async def cancel_requested(session: AsyncSession, scan_id: uuid.UUID) -> bool:
    value = (await session.exec(select(Scan.cancel_requested).where(Scan.id == scan_id))).first()
    return bool(value)


async def add_event(
    session: AsyncSession, scan_id: uuid.UUID, *, phase: str, level: str, message: str, data: dict[str, Any]
) -> None:
    session.add(ScanEvent(scan_id=scan_id, phase=phase, level=level, message=message[:2000], data=data))
    await session.flush()


async def list_events(
    session: AsyncSession, scan_id: uuid.UUID, *, after: int | None, limit: int
) -> Sequence[ScanEvent]:
    query = select(ScanEvent).where(ScanEvent.scan_id == scan_id)
    if after is not None:
        query = query.where(col(ScanEvent.id) > after)
    return (await session.exec(query.order_by(col(ScanEvent.id)).limit(limit))).all()


async def save_phase_output(
    session: AsyncSession, scan_id: uuid.UUID, phase: str, payload: dict[str, Any]
) -> None:
    existing = await session.get(ScanPhaseOutput, (scan_id, phase))
    if existing is None:
        session.add(ScanPhaseOutput(scan_id=scan_id, phase=phase, payload=payload))
    else:
        existing.payload = payload
        session.add(existing)
    await session.flush()


async def stale_running_scans(session: AsyncSession, heartbeat_before: datetime) -> Sequence[Scan]:
    rows = await session.exec(
        select(Scan).where(
            Scan.status == ScanStatus.RUNNING,
            sa.or_(col(Scan.heartbeat_at).is_(None), col(Scan.heartbeat_at) < heartbeat_before),
        )
    )
    return rows.all()


async def count_active_scans(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(Scan)
            .where(
                col(Scan.workspace_id) == workspace_id,
                col(Scan.status).in_([ScanStatus.QUEUED, ScanStatus.RUNNING]),
            )
        )
        or 0
    )


async def forgotten_queued_scans(session: AsyncSession, created_before: datetime) -> Sequence[Scan]:
    """Queued long ago and never started: the job was lost (e.g. an embedded restart)."""
    rows = await session.exec(
        select(Scan).where(Scan.status == ScanStatus.QUEUED, col(Scan.created_at) < created_before)
    )
    return rows.all()


async def get_schedule(
    session: AsyncSession, workspace_id: uuid.UUID, schedule_id: uuid.UUID
) -> ScanSchedule:
    schedule = (
        await session.exec(
            select(ScanSchedule).where(
                ScanSchedule.id == schedule_id, ScanSchedule.workspace_id == workspace_id
            )
        )
    ).first()
    if schedule is None:
        raise NotFoundError.for_resource("Scan schedule", schedule_id)
    return schedule


async def list_schedules(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[ScanSchedule], int]:
    statement = (
        select(ScanSchedule)
        .where(ScanSchedule.workspace_id == workspace_id)
        .order_by(col(ScanSchedule.created_at), col(ScanSchedule.id))
    )
    return await fetch_page(session, statement, page)


async def due_schedules(session: AsyncSession, now: datetime) -> Sequence[ScanSchedule]:
    rows = await session.exec(
        select(ScanSchedule).where(ScanSchedule.enabled == True, col(ScanSchedule.next_run_at) <= now)  # noqa: E712
    )
    return rows.all()


async def advance_schedule(
    session: AsyncSession,
    schedule: ScanSchedule,
    *,
    expected_next_run: datetime,
    next_run: datetime,
    now: datetime,
) -> bool:
    """Move a due schedule to its next run; only the one ticker whose UPDATE matches wins."""
    result = await session.exec(
        sa.update(ScanSchedule)
        .where(col(ScanSchedule.id) == schedule.id, col(ScanSchedule.next_run_at) == expected_next_run)
        .values(next_run_at=next_run, last_run_at=now)
    )
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class ScanCounts:
    queued: int
    running: int
    stale: int
    failed_since: int
    last_failure: Scan | None


async def scan_counts(
    session: AsyncSession, workspace_id: uuid.UUID, *, failed_since: datetime, heartbeat_before: datetime
) -> ScanCounts:
    """What a workspace's scans are doing, for its health: one grouped count and the last failure."""
    status_counts = dict(
        (
            await session.exec(
                select(Scan.status, sa.func.count())
                .where(
                    Scan.workspace_id == workspace_id,
                    col(Scan.status).in_([ScanStatus.QUEUED, ScanStatus.RUNNING]),
                )
                .group_by(col(Scan.status))
            )
        ).all()
    )
    stale = (
        await session.exec(
            select(sa.func.count())
            .select_from(Scan)
            .where(
                Scan.workspace_id == workspace_id,
                Scan.status == ScanStatus.RUNNING,
                sa.or_(col(Scan.heartbeat_at).is_(None), col(Scan.heartbeat_at) < heartbeat_before),
            )
        )
    ).one()
    failures = (
        Scan.workspace_id == workspace_id,
        Scan.status == ScanStatus.FAILED,
        col(Scan.finished_at) >= failed_since,
    )
    failed = (await session.exec(select(sa.func.count()).select_from(Scan).where(*failures))).one()
    last = (
        await session.exec(select(Scan).where(*failures).order_by(col(Scan.finished_at).desc()).limit(1))
    ).first()
    return ScanCounts(
        queued=int(status_counts.get(ScanStatus.QUEUED, 0)),
        running=int(status_counts.get(ScanStatus.RUNNING, 0)),
        stale=int(stale),
        failed_since=int(failed),
        last_failure=last,
    )


async def status_counts(
    session: AsyncSession, workspace_id: uuid.UUID, *, finished_since: datetime | None = None
) -> dict[str, int]:
    """Scans per status; with `finished_since`, only those that finished since then."""
    filters: list[Any] = [Scan.workspace_id == workspace_id]
    if finished_since is not None:
        filters.append(col(Scan.finished_at) >= finished_since)
    rows = await session.exec(select(Scan.status, sa.func.count()).where(*filters).group_by(col(Scan.status)))
    return {status: int(count) for status, count in rows.all()}


async def latest_scan_per_agent(
    session: AsyncSession, workspace_id: uuid.UUID, *, status: str | None = None
) -> dict[uuid.UUID, Scan]:
    """Each agent's newest scan (of `status`, when given), in one query."""
    filters: list[Any] = [Scan.workspace_id == workspace_id]
    if status is not None:
        filters.append(Scan.status == status)
    ranked = (
        select(
            col(Scan.id).label("id"),
            sa.func.row_number()
            .over(partition_by=col(Scan.agent_id), order_by=(col(Scan.created_at).desc(), col(Scan.id)))
            .label("rank"),
        )
        .where(*filters)
        .subquery()
    )
    rows = await session.exec(
        select(Scan).join(ranked, col(Scan.id) == ranked.c.id).where(ranked.c.rank == 1)
    )
    return {scan.agent_id: scan for scan in rows.all()}
