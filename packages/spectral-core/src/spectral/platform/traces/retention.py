"""Trace retention (`SPECTRAL_TRACE_RETENTION_DAYS`; unset keeps everything).

A trace expires with the UTC day it started on: with 30 days, on 3 December every trace that
started before 3 November 00:00 UTC goes, with all of its spans and feedback (its scores go with it
too, see `spectral.platform.retention`). A trace is kept between N and N+1 days. Every expired span
belongs to an expired trace (a trace starts with its first span), so deleting expired traces with
their spans removes every expired span.

On PostgreSQL the days past the cutoff are dropped as whole partitions of `spans` first; what is
left to delete row by row is only the expired spans the default partition holds and the later
spans of traces that started before the cutoff. SQLite deletes it all in batches. Ingest refuses a
span that starts before the cutoff (counted in partialSuccess / `errors`), so an old span sent late
never brings an expired trace back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity.models import Workspace
from spectral.platform.traces.models import Span, Trace, TraceFeedback
from spectral.platform.traces.partitions import day_start
from spectral.platform.traces.repository import spans_of_traces


@dataclass(frozen=True, slots=True)
class TraceRetention:
    days: int | None

    def cutoff_day(self, now: datetime) -> date | None:
        """The first UTC day kept (None: everything is kept)."""
        return None if self.days is None else (now - timedelta(days=self.days)).date()

    def cutoff(self, now: datetime) -> datetime | None:
        """Spans and traces that start before this instant are expired."""
        day = self.cutoff_day(now)
        return None if day is None else day_start(day)

    def refusal(self) -> str:
        return f"span starts before the trace retention ({self.days} days)"


KEEP_FOREVER = TraceRetention(days=None)


async def workspaces_with_expired_traces(session: AsyncSession, cutoff: datetime) -> list[uuid.UUID]:
    """Workspaces holding a trace that started before `cutoff` (one index probe per workspace)."""
    result = await session.exec(
        select(col(Workspace.id)).where(
            sa.exists().where(col(Trace.workspace_id) == col(Workspace.id), col(Trace.start_time) < cutoff)
        )
    )
    return list(result.all())


async def expire_trace_batch(
    session: AsyncSession, workspace_id: uuid.UUID, cutoff: datetime, limit: int
) -> list[str]:
    """Delete up to `limit` of the workspace's traces that started before `cutoff`, oldest first,
    with their spans and feedback; the trace ids deleted."""
    connection = await session.connection()
    expired = (
        await connection.execute(
            sa.select(col(Trace.trace_id), col(Trace.start_time), col(Trace.end_time))
            .where(col(Trace.workspace_id) == workspace_id, col(Trace.start_time) < cutoff)
            .order_by(col(Trace.start_time))
            .limit(limit)
        )
    ).all()
    if not expired:
        return []
    trace_ids: Sequence[str] = [row.trace_id for row in expired]
    await connection.execute(sa.delete(Span).where(*spans_of_traces(workspace_id, expired)))
    await connection.execute(
        sa.delete(TraceFeedback).where(
            col(TraceFeedback.workspace_id) == workspace_id, col(TraceFeedback.trace_id).in_(trace_ids)
        )
    )
    await connection.execute(
        sa.delete(Trace).where(col(Trace.workspace_id) == workspace_id, col(Trace.trace_id).in_(trace_ids))
    )
    return list(trace_ids)
