"""Trace retention as one job across the contexts that keep per-trace rows (`traces` and the
scores of `evaluations`); see `traces.retention` for what expires when.

What stays: sample items copied from a trace (their input and expected output are the sample's
own; `source_trace_id` remains as provenance), and the trace ids that scans, failure clusters and
change sets cite as evidence (a record of what was decided; opening an expired one answers 404).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spectral.platform.evaluations.repository import delete_trace_scores
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings
from spectral.platform.traces.partitions import drop_span_partitions_before
from spectral.platform.traces.retention import (
    TraceRetention,
    expire_trace_batch,
    workspaces_with_expired_traces,
)

log = logging.getLogger("spectral.retention")

# Traces deleted per transaction: short transactions keep SQLite's writer lock and PostgreSQL's
# row locks brief while ingest goes on.
EXPIRE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Expired:
    partitions: int
    traces: int


async def expire_traces(db: Database, retention: TraceRetention, now: datetime) -> Expired:
    """Drop the span partitions of expired days, then delete expired traces batch by batch."""
    cutoff_day, cutoff = retention.cutoff_day(now), retention.cutoff(now)
    if cutoff_day is None or cutoff is None:
        return Expired(partitions=0, traces=0)
    async with db.session() as session:
        dropped = await drop_span_partitions_before(session, cutoff_day)
    async with db.session() as session:
        workspaces = await workspaces_with_expired_traces(session, cutoff)
    traces = 0
    for workspace_id in workspaces:
        while True:
            async with db.session() as session:
                trace_ids = await expire_trace_batch(session, workspace_id, cutoff, EXPIRE_BATCH)
                await delete_trace_scores(session, workspace_id, trace_ids)
            traces += len(trace_ids)
            if len(trace_ids) < EXPIRE_BATCH:
                break
    if dropped or traces:
        log.info("traces expired", extra={"partitions": len(dropped), "traces": traces, "before": cutoff})
    return Expired(partitions=len(dropped), traces=traces)


async def expire_traces_job(ctx: dict[str, Any]) -> Expired:
    """Hourly: apply `SPECTRAL_TRACE_RETENTION_DAYS` (nothing when unset)."""
    settings: Settings = ctx["settings"]
    return await expire_traces(ctx["db"], TraceRetention(settings.trace_retention_days), utcnow())
