"""In production mode the scan runs in the worker process, and the worker's own `/metrics`
(SPECTRAL_WORKER_METRICS_PORT) shows it: the scan, phase, replay and job series move there by what
the scan reports, and not on the API's `/metrics`, which only enqueued it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from e2e.conftest import Stack
from scrape import assert_one_scan_moved, scan_events, scrape, value
from spectral_cli.demo.polling import poll_until
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace, demo_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
        yield http


async def test_the_worker_metrics_move_with_a_scan(stack: Stack, client: httpx.AsyncClient) -> None:
    worker_metrics = f"http://127.0.0.1:{stack.env['SPECTRAL_WORKER_METRICS_PORT']}/metrics"
    demo: DemoWorkspace = demo_workspace(7, n_traces=900)
    seeded = await seed_workspace(client, demo, stack.replay_url)
    before, api_before = await scrape(client, worker_metrics), await scrape(client)

    started = await seeded.start_scan()
    assert started.status_code == 202, started.text
    scan = await seeded.wait_for(started.json()["id"])
    assert scan["status"] == "succeeded", f"{scan}\n{stack.worker.log()}"
    events = await scan_events(client, f"{seeded.ws}/scans/{scan['id']}", seeded.headers)

    # The scan's row is committed before its job returns and counts itself: wait for the job.
    jobs = "spectral_jobs_total"
    after = await poll_until(
        lambda: scrape(client, worker_metrics),
        lambda text: value(text, jobs, job="run_scan") > value(before, jobs, job="run_scan"),
        timeout_s=120,
        describe=lambda _: f"the run_scan job is not counted yet\n{stack.worker.log()}",
    )
    assert_one_scan_moved(before, after, scan, events, runner="http")
    api_after = await scrape(client)
    finished = "spectral_scans_finished_total"
    assert value(api_after, finished, status="succeeded") == value(api_before, finished, status="succeeded")
