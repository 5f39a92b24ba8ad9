"""Run-time rules of docs/scans.md: one run per scan, cancel between batches, the reaper, schedules."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from integration.scans.conftest import Gated, Live
from spectral.platform.scans.jobs import reap_stale_scans, run_scan, tick_schedules
from spectral.platform.scans.models import Scan, ScanSchedule
from spectral.platform.shared.clock import utcnow
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace

pytestmark = pytest.mark.postgres


def job_ctx(live: Live) -> dict[str, object]:
    return {"db": live.db, "settings": live.app.state.spectral.settings, "queue": live.queue}


async def test_the_same_scan_runs_once(live: Live, demo: DemoWorkspace) -> None:
    seeded = await seed_workspace(live.client, demo, None)
    scan_id = (await seeded.start_scan()).json()["id"]
    # The in-process queue already has the job: enqueueing its id again is refused ...
    assert await live.queue.enqueue("run_scan", scan_id, queue="scans", scan_id=scan_id) is False
    await seeded.wait_for(scan_id)
    # ... and a second delivery of the job (a broker redelivering) finds the scan taken.
    assert await run_scan(job_ctx(live), scan_id=scan_id) == "skipped"
    events = (
        await live.client.get(f"{seeded.ws}/scans/{scan_id}/events?limit=500", headers=seeded.headers)
    ).json()
    assert sum(1 for e in events["results"] if e["message"].startswith("scan started")) == 1


async def test_cancel_stops_a_running_scan_between_batches(
    live: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    scan_id = (await seeded.start_scan()).json()["id"]
    await seeded.wait_until(scan_id, lambda scan: scan["phase"] in {"propose", "experiment"})
    cancel = await live.client.post(f"{seeded.ws}/scans/{scan_id}/cancel", headers=seeded.headers)
    assert cancel.status_code == 202
    assert cancel.json()["cancel_requested"] is True
    scan = await seeded.wait_for(scan_id)
    assert scan["status"] == "cancelled"
    assert scan["phase"] in {"propose", "experiment"}
    again = await live.client.post(f"{seeded.ws}/scans/{scan_id}/cancel", headers=seeded.headers)
    assert again.status_code == 400
    assert again.json()["type"].endswith("/invalid-transition")
    report = await live.client.get(f"{seeded.ws}/scans/{scan_id}/report", headers=seeded.headers)
    assert report.status_code == 400


async def test_a_queued_scan_is_cancelled_at_once(gated: Gated, demo: DemoWorkspace) -> None:
    seeded = await seed_workspace(gated.live.client, demo, None)
    scan_id = (await seeded.start_scan()).json()["id"]
    assert (await seeded.scan(scan_id))["status"] == "queued"
    cancelled = await gated.live.client.post(f"{seeded.ws}/scans/{scan_id}/cancel", headers=seeded.headers)
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "cancelled"
    gated.gate.set()
    await gated.live.queue.join()
    assert (await seeded.scan(scan_id))["status"] == "cancelled"


async def _make_stale(live: Live, scan_id: str, attempts: int) -> None:
    async with live.db.session() as session:
        await session.exec(
            sa.update(Scan)
            .where(Scan.id == uuid.UUID(scan_id))
            .values(status="running", attempts=attempts, heartbeat_at=utcnow() - timedelta(hours=1))
        )


async def test_reaper_requeues_a_scan_whose_worker_died_then_fails_it(
    live: Live, demo: DemoWorkspace
) -> None:
    seeded = await seed_workspace(live.client, demo, None)
    scan_id = (await seeded.start_scan()).json()["id"]
    await seeded.wait_for(scan_id)
    # A worker took it and died mid-way: running, with a heartbeat an hour old.
    await _make_stale(live, scan_id, attempts=1)
    assert await reap_stale_scans(job_ctx(live)) >= 1
    rerun = await seeded.wait_for(scan_id)
    assert rerun["status"] == "succeeded"
    assert rerun["attempts"] == 2
    # It died again: no third attempt, the scan fails with the reason.
    await _make_stale(live, scan_id, attempts=2)
    await reap_stale_scans(job_ctx(live))
    failed = await seeded.scan(scan_id)
    assert failed["status"] == "failed"
    assert "worker was lost" in failed["error"]


async def test_schedules_start_one_scan_per_due_tick_even_with_two_tickers(
    live: Live, demo: DemoWorkspace
) -> None:
    seeded = await seed_workspace(live.client, demo, None)
    body = {
        "name": "nightly",
        "cron": "0 3 * * *",
        "scan": {
            "agent_id": seeded.agent_id,
            "rubric_id": seeded.rubric_id,
            "objective_id": seeded.objective_id,
        },
    }
    created = await live.client.post(f"{seeded.ws}/scans/schedules", json=body, headers=seeded.headers)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert created.headers["location"].endswith(schedule["id"])
    async with live.db.session() as session:
        await session.exec(
            sa.update(ScanSchedule)
            .where(ScanSchedule.id == uuid.UUID(schedule["id"]))
            .values(next_run_at=utcnow() - timedelta(minutes=1))
        )
    started = await asyncio.gather(tick_schedules(job_ctx(live)), tick_schedules(job_ctx(live)))
    assert sorted(started) == [0, 1]
    after = (
        await live.client.get(f"{seeded.ws}/scans/schedules/{schedule['id']}", headers=seeded.headers)
    ).json()
    assert after["last_scan_id"]
    assert after["next_run_at"] > schedule["next_run_at"] or after["next_run_at"] >= after["last_run_at"]
    scans = (await live.client.get(f"{seeded.ws}/scans", headers=seeded.headers)).json()
    assert [s["schedule_id"] for s in scans["results"]] == [schedule["id"]]
    await seeded.wait_for(after["last_scan_id"])


async def test_schedule_validation_and_lifecycle(live: Live, demo: DemoWorkspace) -> None:
    seeded = await seed_workspace(live.client, demo, None)
    scan = {"agent_id": seeded.agent_id, "rubric_id": seeded.rubric_id, "objective_id": seeded.objective_id}
    bad_cron = await live.client.post(
        f"{seeded.ws}/scans/schedules",
        json={"name": "x", "cron": "every day", "scan": scan},
        headers=seeded.headers,
    )
    assert bad_cron.status_code == 422
    assert bad_cron.json()["errors"][0]["loc"] == ["body", "cron"]
    created = (
        await live.client.post(
            f"{seeded.ws}/scans/schedules",
            json={"name": "x", "cron": "*/30 * * * *", "scan": scan},
            headers=seeded.headers,
        )
    ).json()
    url = f"{seeded.ws}/scans/schedules/{created['id']}"
    patched = await live.client.patch(
        url, json={"enabled": False, "cron": "15 * * * *"}, headers=seeded.headers
    )
    assert patched.status_code == 200
    assert patched.json()["enabled"] is False
    assert patched.json()["cron"] == "15 * * * *"
    listed = (await live.client.get(f"{seeded.ws}/scans/schedules", headers=seeded.headers)).json()
    assert listed["pagination"]["total"] == 1
    assert (await live.client.delete(url, headers=seeded.headers)).status_code == 204
    assert (await live.client.get(url, headers=seeded.headers)).status_code == 404
