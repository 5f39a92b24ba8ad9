"""The optimization loop across real processes: API + worker (arq on Redis) + PostgreSQL + the
demo agent's replay endpoint. Ingest, scan (202), poll to `succeeded`, events and cost, change sets
with their explanation, accept -> apply -> rollback, and the agent's runtime config following;
then the worker is killed mid-scan and the reaper gets the scan re-run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from e2e.conftest import Stack
from spectral.platform.scans.jobs import reap_stale_scans
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import ArqQueue
from spectral.platform.shared.settings import Settings
from spectral_cli.demo.seeding import SeededWorkspace, seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace, demo_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def demo() -> DemoWorkspace:
    return demo_workspace(7, n_traces=900)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
        yield http


async def test_scan_to_rollback_across_processes(
    stack: Stack, client: httpx.AsyncClient, demo: DemoWorkspace
) -> None:
    seeded = await seed_workspace(client, demo, stack.replay_url)
    agent_key = await seeded.api_key(["read:agents"])
    config_url = f"{seeded.ws}/agents/{seeded.agent_id}/config"
    before = await client.get(config_url, headers=agent_key)

    started = await seeded.start_scan()
    assert started.status_code == 202, started.text
    scan = await seeded.wait_for(started.json()["id"])
    assert scan["status"] == "succeeded", f"{scan}\n{stack.worker.log()}"

    events = (
        await client.get(f"{seeded.ws}/scans/{scan['id']}/events?limit=500", headers=seeded.headers)
    ).json()
    assert {e["phase"] for e in events["results"]} >= {
        "collect",
        "evaluate",
        "diagnose",
        "validate",
        "report",
    }
    cost = (await client.get(f"{seeded.ws}/scans/{scan['id']}/cost", headers=seeded.headers)).json()
    assert cost["total_calls"] > 0

    changesets = (
        await client.get(f"{seeded.ws}/changesets?scan_id={scan['id']}", headers=seeded.headers)
    ).json()
    changeset = next(c for c in changesets["results"] if c["verdict"] == "recommend")
    assert changeset["rationale"]
    assert changeset["clusters"]
    assert changeset["evidence_trace_ids"]
    assert changeset["validation"]["ci_low"] > 0

    url = f"{seeded.ws}/changesets/{changeset['id']}"
    assert (await client.post(f"{url}/rollback", headers=seeded.headers)).status_code == 400
    assert (await client.post(f"{url}/accept", headers=seeded.headers)).json()["status"] == "accepted"
    accepted_config = await client.get(config_url, headers=agent_key)
    assert accepted_config.json()["version"] != before.json()["version"]
    not_modified = await client.get(
        config_url, headers={**agent_key, "If-None-Match": accepted_config.headers["etag"]}
    )
    assert not_modified.status_code == 304
    assert (await client.post(f"{url}/apply", headers=seeded.headers)).json()["status"] == "applied"
    assert (await client.post(f"{url}/rollback", headers=seeded.headers)).json()["status"] == "rolled_back"
    restored = await client.get(config_url, headers=agent_key)
    assert restored.headers["etag"] == before.headers["etag"]


async def _reap(stack: Stack) -> int:
    """What the worker's cron runs every minute, run now (the threshold is the operator's setting)."""
    env = stack.env
    settings = Settings(
        database_url=env["SPECTRAL_DATABASE_URL"],
        redis_url=env["SPECTRAL_REDIS_URL"],
        default_queue_name=env["SPECTRAL_DEFAULT_QUEUE_NAME"],
        scan_queue_name=env["SPECTRAL_SCAN_QUEUE_NAME"],
        scan_stale_after_s=int(env["SPECTRAL_SCAN_STALE_AFTER_S"]),
    )
    db = Database(settings.resolved_database_url)
    queue = await ArqQueue.connect(settings.redis_url or "", queue_names=settings.queue_names)
    try:
        return await reap_stale_scans({"db": db, "settings": settings, "queue": queue})
    finally:
        await queue.close()
        await db.dispose()


async def test_a_scan_whose_worker_is_killed_is_rerun_by_the_reaper(
    stack: Stack, client: httpx.AsyncClient, demo: DemoWorkspace
) -> None:
    seeded: SeededWorkspace = await seed_workspace(client, demo, stack.replay_url)
    scan_id = (await seeded.start_scan(seed=11)).json()["id"]
    await seeded.wait_until(scan_id, lambda scan: scan["phase"] in {"experiment", "validate"})
    stack.worker.kill()
    killed_at = time.monotonic()
    assert (await seeded.scan(scan_id))["status"] == "running"

    # Until the heartbeat is stale the reaper leaves the scan alone; then it queues it again.
    stale_after = int(stack.env["SPECTRAL_SCAN_STALE_AFTER_S"])
    await asyncio.sleep(max(0.0, stale_after + 1 - (time.monotonic() - killed_at)))
    assert await _reap(stack) == 1
    requeued = await seeded.scan(scan_id)
    assert requeued["status"] == "queued"
    assert "heartbeats" in requeued["error"]

    stack.start_worker("worker-2")
    finished = await seeded.wait_for(scan_id)
    assert finished["status"] == "succeeded", f"{finished}\n{stack.worker.log()}"
    assert finished["attempts"] == 2
    assert finished["error"] is None
