"""A scan's progress never goes backwards and a late event of an earlier phase does not move its
phase back (issue 11)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from integration.scans.conftest import Gated
from spectral.engine.types import EventLevel, ScanPhase
from spectral.platform.scans.hooks import DbScanHooks
from spectral.platform.scans.models import Scan
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace

pytestmark = pytest.mark.postgres


async def test_progress_and_phase_only_move_forward(gated: Gated, demo: DemoWorkspace) -> None:
    live = gated.live
    seeded = await seed_workspace(live.client, demo, None)
    started = await seeded.start_scan()
    assert started.status_code == 202, started.text
    scan_id = uuid.UUID(started.json()["id"])
    async with live.db.session() as session:
        await session.exec(sa.update(Scan).where(Scan.id == scan_id).values(status="running"))

    async def read() -> tuple[str | None, float]:
        scan = (await live.client.get(f"{seeded.ws}/scans/{scan_id}", headers=seeded.headers)).json()
        return scan["phase"], scan["progress"]

    hooks = DbScanHooks(live.db, scan_id)
    await hooks.progress(ScanPhase.VALIDATE, 0.5)
    high = await read()
    assert high[0] == "validate"
    # An event of an earlier phase, then an earlier phase's progress: neither goes back.
    await hooks.event(ScanPhase.EXPERIMENT, EventLevel.WARNING, "replay budget reached", {})
    await hooks.progress(ScanPhase.COLLECT, 1.0)
    assert await read() == high
    # A second writer (a re-run after the reaper) starting over cannot lower it either.
    await DbScanHooks(live.db, scan_id).progress(ScanPhase.COLLECT, 0.0)
    assert (await read())[1] == high[1]
    await hooks.progress(ScanPhase.REPORT, 1.0)
    assert await read() == ("report", 1.0)
