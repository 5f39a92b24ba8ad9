"""The queue port: the same job function runs through Redis (arq worker) and in-process, and the
same job id enqueued twice runs once on both."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from spectral.platform.shared.queue import ArqQueue, InProcessQueue
from spectral.platform.shared.settings import Settings
from spectral_worker.worker import build_workers
from testenv import REDIS_URL

RUNS: list[tuple[str, str]] = []


async def record_run(ctx: dict[str, Any], *, marker: str) -> str:
    await asyncio.sleep(0.01)
    RUNS.append((ctx["job_id"], marker))
    return marker


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    RUNS.clear()


@pytest.fixture
async def arq_queue(settings: Settings) -> AsyncIterator[ArqQueue]:
    run = uuid.uuid4().hex[:8]
    settings.default_queue_name = f"spectral:test:{run}:default"
    settings.scan_queue_name = f"spectral:test:{run}:scans"
    queue = await ArqQueue.connect(REDIS_URL, queue_names=settings.queue_names)
    yield queue
    await queue.redis.delete(settings.default_queue_name, settings.scan_queue_name)
    await queue.close()


async def test_in_process_queue_runs_a_job_once_per_id() -> None:
    queue = InProcessQueue({"record_run": record_run}, {})
    job_id = str(uuid.uuid4())
    assert await queue.enqueue("record_run", job_id, marker="first") is True
    assert await queue.enqueue("record_run", job_id, marker="second") is False
    await queue.join()
    assert [(job_id, "first")] == RUNS
    assert await queue.ping() is True


async def test_in_process_queue_refuses_unknown_functions() -> None:
    queue = InProcessQueue({}, {})
    with pytest.raises(KeyError, match="no job function named 'missing'"):
        await queue.enqueue("missing", "1")


async def test_in_process_job_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def explode(ctx: dict[str, Any]) -> None:
        raise ValueError("boom")

    queue = InProcessQueue({"explode": explode}, {})
    await queue.enqueue("explode", "job-1")
    await queue.join()
    assert any(r.message == "job failed" and r.exc_info for r in caplog.records)


@pytest.mark.redis
async def test_arq_queue_runs_a_job_once_per_id_in_a_worker(
    arq_queue: ArqQueue, settings: Settings, db: Any
) -> None:
    job_id = str(uuid.uuid4())
    assert await arq_queue.enqueue("record_run", job_id, marker="first") is True
    assert await arq_queue.enqueue("record_run", job_id, marker="second") is False
    assert await arq_queue.depth() == 1
    workers = build_workers(
        settings, db, arq_queue, functions={"record_run": record_run}, cron_jobs=(), burst=True
    )
    await asyncio.gather(*(worker.async_run() for worker in workers))
    assert [(job_id, "first")] == RUNS
    # The result is kept, so a late duplicate still does not run again.
    assert await arq_queue.enqueue("record_run", job_id, marker="third") is False


@pytest.mark.redis
async def test_arq_jobs_go_to_the_named_queue(arq_queue: ArqQueue, settings: Settings, db: Any) -> None:
    job_id = str(uuid.uuid4())
    await arq_queue.enqueue("record_run", job_id, queue="scans", marker="scan")
    assert await arq_queue.redis.zcard(settings.default_queue_name) == 0
    assert await arq_queue.redis.zcard(settings.scan_queue_name) == 1
    workers = build_workers(
        settings,
        db,
        arq_queue,
        functions={"record_run": record_run},
        cron_jobs=(),
        queues=("scans",),
        burst=True,
    )
    await asyncio.gather(*(worker.async_run() for worker in workers))
    assert [(job_id, "scan")] == RUNS
