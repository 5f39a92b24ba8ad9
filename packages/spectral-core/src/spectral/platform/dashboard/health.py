"""A workspace's health in one read: the platform's own parts (database, queue), ingestion
freshness, what its scans are doing, and the model provider's state, all as this workspace sees
them (its own runs waiting, its own model calls: nothing of another tenant's activity). It sits above every context
it reads, so each keeps its own queries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.changesets import service as changesets_service
from spectral.platform.identity.principal import Principal
from spectral.platform.models import service as models_service
from spectral.platform.models.schemas import ModelHealthReport
from spectral.platform.scans import service as scans_service
from spectral.platform.scans.schemas import ScanHealth
from spectral.platform.shared.clock import UtcDateTime, as_utc, utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import JobQueue
from spectral.platform.shared.settings import Settings
from spectral.platform.traces import service as traces_service
from spectral.platform.workspaces import service as workspaces_service
from spectral.platform.workspaces.schemas import WorkspaceHealth


class IngestionHealth(BaseModel):
    last_received_at: UtcDateTime | None
    seconds_since_last: float | None = Field(description="null: nothing received yet")
    accepted: int
    rejected: int


class WorkspaceHealthRead(WorkspaceHealth):
    ingestion: IngestionHealth
    scans: ScanHealth
    models: ModelHealthReport


async def workspace_health(
    session: AsyncSession, principal: Principal, *, db: Database, queue: JobQueue, settings: Settings
) -> WorkspaceHealthRead:
    workspace_id = traces_service.workspace_of(principal)
    scans = await scans_service.scan_health(session, workspace_id, settings)
    waiting = scans.queued + await changesets_service.queued_runs(session, workspace_id)
    base = await workspaces_service.health(session, principal, db=db, queue=queue, waiting=waiting)
    stats = await traces_service.ingest_stats(session, principal)
    last = as_utc(stats.last_received_at) if stats.last_received_at else None
    models = await models_service.model_health(session, settings, workspace_id=workspace_id)
    open_circuit = any(model.circuit_state != "closed" for model in models.models)
    status: Literal["ok", "degraded"] = (
        "ok" if base.status == "ok" and not scans.stale and not open_circuit else "degraded"
    )
    return WorkspaceHealthRead(
        **{**base.model_dump(), "status": status},
        ingestion=IngestionHealth(
            last_received_at=last,
            seconds_since_last=None if last is None else round((utcnow() - last).total_seconds(), 1),
            accepted=stats.accepted,
            rejected=stats.rejected,
        ),
        scans=scans,
        models=models,
    )
