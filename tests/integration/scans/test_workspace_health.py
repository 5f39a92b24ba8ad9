"""`GET {ws}/health`: ingestion freshness, what the scans are doing and the model provider, in one read."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from integration.scans.conftest import Live
from spectral.platform.scans.models import Scan
from spectral.platform.shared.clock import utcnow
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace

pytestmark = pytest.mark.postgres


async def test_health_reports_ingestion_scans_and_models(live: Live, demo: DemoWorkspace) -> None:
    seeded = await seed_workspace(live.client, demo, None)
    fresh = (await live.client.get(f"{seeded.ws}/health", headers=seeded.headers)).json()
    assert fresh["status"] == "ok"
    assert fresh["ingestion"]["accepted"] > 0
    assert fresh["ingestion"]["seconds_since_last"] >= 0
    assert fresh["scans"] == {
        "queued": 0,
        "running": 0,
        "stale": 0,
        "failed_last_24h": 0,
        "last_failure": None,
    }
    assert fresh["models"]["provider"] is None

    scan_id = (await seeded.start_scan()).json()["id"]
    await seeded.wait_for(scan_id)
    async with live.db.session() as session:
        await session.exec(
            sa.update(Scan)
            .where(Scan.id == uuid.UUID(scan_id))
            .values(status="running", heartbeat_at=utcnow() - timedelta(hours=1))
        )
    stale = (await live.client.get(f"{seeded.ws}/health", headers=seeded.headers)).json()
    assert stale["scans"]["running"] == 1
    assert stale["scans"]["stale"] == 1
    assert stale["status"] == "degraded"
