"""A scan moves the series of `/metrics` of the process that ran it (here the API's, whose
in-process queue runs the scan, as the embedded default does): scans by final status, phase
durations, replays, and the job. A cancelled queued scan counts as cancelled, once."""

from __future__ import annotations

import pytest

from integration.scans.conftest import Gated, Live
from scrape import assert_one_scan_moved, scan_events, scrape, value
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace


async def test_a_scan_moves_the_scan_replay_and_job_series(
    either: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(either.client, demo, demo_agent_url)
    before = await scrape(either.client)
    started = await seeded.start_scan()
    assert started.status_code == 202, started.text
    scan = await seeded.wait_for(started.json()["id"])
    assert scan["status"] == "succeeded", scan
    await either.queue.join()  # the job's own series are written once it returned
    after = await scrape(either.client)

    events = await scan_events(either.client, f"{seeded.ws}/scans/{scan['id']}", seeded.headers)
    assert_one_scan_moved(before, after, scan, events, runner="http")


@pytest.mark.postgres
async def test_a_cancelled_queued_scan_counts_once(gated: Gated, demo: DemoWorkspace) -> None:
    live = gated.live
    seeded = await seed_workspace(live.client, demo, None)
    before = await scrape(live.client)
    started = await seeded.start_scan()
    assert started.status_code == 202, started.text
    url = f"{seeded.ws}/scans/{started.json()['id']}"
    assert (await live.client.post(f"{url}/cancel", headers=seeded.headers)).json()["status"] == "cancelled"
    # The job then finds the scan finished and leaves it alone.
    gated.gate.set()
    await live.queue.join()
    after = await scrape(live.client)
    for status, moved in (("cancelled", 1), ("succeeded", 0), ("failed", 0)):
        assert value(after, "spectral_scans_finished_total", status=status) == (
            value(before, "spectral_scans_finished_total", status=status) + moved
        )
