"""The supervisor's nightly round: in every workspace that lets it act (`suggest` or `auto_apply`),
start the scans of its nightly plan. `auto_apply` then applies what validates within the
guardrails when each scan finishes; `suggest` leaves the change sets for a human."""

from __future__ import annotations

import logging
from typing import Any

from spectral.platform.identity.principal import Principal
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import JobQueue
from spectral.platform.shared.settings import Settings
from spectral.platform.shared.unit_of_work import commit_and_enqueue
from spectral.platform.supervisor import service
from spectral.platform.workspaces import repository as workspaces_repository
from spectral.platform.workspaces.schemas import AutonomyLevel

log = logging.getLogger("spectral.supervisor")

ACTING_LEVELS = (AutonomyLevel.SUGGEST, AutonomyLevel.AUTO_APPLY)


async def run_nightly_plans(ctx: dict[str, Any]) -> int:
    """Hourly; acts in the hour `SPECTRAL_NIGHTLY_HOUR_UTC`. A second run in that hour finds
    nothing new to scan (the plan wants traces newer than the agent's last scan)."""
    settings: Settings = ctx["settings"]
    if utcnow().hour != settings.nightly_hour_utc:
        return 0
    db: Database = ctx["db"]
    queue: JobQueue = ctx["queue"]
    started = 0
    async with db.sessionmaker() as session:
        for workspace_id, account_id in await workspaces_repository.workspaces_at_autonomy(
            session, ACTING_LEVELS
        ):
            supervisor = Principal.supervisor(workspace_id, account_id)
            if (await service.nightly_plan(session, supervisor)).scans:
                started += len((await service.run_nightly_plan(session, supervisor)).scans)
        await commit_and_enqueue(session, queue)
    log.info("nightly round", extra={"scans_started": started})
    return started
