"""The embedded default (SQLite, in-process queue) runs several scans at once, as `make run` does
when a user starts a few seeds: each scan's job writes its events, heartbeat and phase outputs
while the others write theirs, and none of them may fail on SQLite's write lock."""

from __future__ import annotations

import asyncio

from integration.scans.conftest import Live
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace


async def test_concurrent_scans_on_sqlite_all_finish(
    embedded: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(embedded.client, demo, demo_agent_url)
    started = [await seeded.start_scan(seed=seed) for seed in (1, 2, 3)]
    assert all(response.status_code == 202 for response in started), [r.text for r in started]
    scans = await asyncio.gather(
        *(seeded.wait_for(response.json()["id"], timeout_s=300) for response in started)
    )
    assert [scan["status"] for scan in scans] == ["succeeded"] * 3, [scan["error"] for scan in scans]
