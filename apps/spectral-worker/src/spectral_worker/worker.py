"""The worker's composition root: arq workers over the platform's job functions.

One process runs two arq workers on one event loop: the default queue (short jobs, cron) and
the scans queue, so a long scan never holds up short jobs. Scale by running more processes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

import uvicorn
from arq.cron import CronJob, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, Worker, func

from spectral.platform.jobs import JOB_FUNCTIONS, PERIODIC_JOBS
from spectral.platform.migrations.runner import require_latest_schema
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import ArqQueue, JobFunction, JobQueue, PeriodicJob
from spectral.platform.shared.settings import Settings
from spectral.platform.shared.startup import reach_redis, refuse_to_start
from spectral.platform.traces.jobs import maintain_span_partitions
from spectral_api.metrics import ProcessState, metrics_app

log = logging.getLogger("spectral.worker")

# A scan's own heartbeat and the reaper bound how long a stuck job can hold a slot; arq's
# timeout is the last line of defence.
SCAN_JOB_TIMEOUT_S = 6 * 3600
DEFAULT_JOB_TIMEOUT_S = 600


def _functions(functions: Mapping[str, JobFunction], timeout_s: int) -> list[Function]:
    # max_tries=1: a job that dies mid-way is the reaper's to re-run or fail, with a clean state.
    return [
        func(cast(WorkerCoroutine, fn), name=name, max_tries=1, timeout=timeout_s)
        for name, fn in functions.items()
    ]


def cron_jobs_of(periodic: Sequence[PeriodicJob]) -> list[CronJob]:
    """Periodic jobs as arq cron jobs; `unique` makes one worker of many run each tick."""
    jobs = []
    for job in periodic:
        minutes = max(1, job.every_s // 60)
        jobs.append(
            cron(
                cast(WorkerCoroutine, job.function),
                name=job.name,
                minute=set(range(0, 60, minutes)),
                second=0,
                unique=True,
                max_tries=1,
            )
        )
    return jobs


def build_workers(
    settings: Settings,
    db: Database,
    queue: ArqQueue,
    *,
    functions: Mapping[str, JobFunction] = JOB_FUNCTIONS,
    cron_jobs: Sequence[CronJob] | None = None,
    queues: Sequence[str] = ("default", "scans"),
    burst: bool = False,
) -> list[Worker]:
    ctx: dict[str, Any] = {"db": db, "settings": settings, "queue": queue}
    common: dict[str, Any] = {
        "redis_pool": queue.redis,
        "ctx": ctx,
        "handle_signals": False,
        "burst": burst,
        "poll_delay": 0.2,
    }
    workers = []
    if "default" in queues:
        workers.append(
            Worker(
                _functions(functions, DEFAULT_JOB_TIMEOUT_S),
                queue_name=settings.default_queue_name,
                cron_jobs=cron_jobs_of(PERIODIC_JOBS) if cron_jobs is None else list(cron_jobs),
                max_jobs=10,
                **common,
            )
        )
    if "scans" in queues:
        workers.append(
            Worker(
                _functions(functions, SCAN_JOB_TIMEOUT_S),
                queue_name=settings.scan_queue_name,
                max_jobs=2,
                **common,
            )
        )
    return workers


class _MetricsServer(uvicorn.Server):
    """uvicorn without its signal handlers: SIGINT and SIGTERM are the worker's, which stops its
    jobs first and this listener last."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _metrics_socket(settings: Settings) -> socket.socket | None:
    """The listening socket of this process's `/metrics`, or None when there is none to serve.

    In multi-process mode (PROMETHEUS_MULTIPROC_DIR) the worker processes of a host share one
    port: whichever binds it serves the series of them all, and the others go on without."""
    if settings.metrics == "off" or settings.worker_metrics_port == 0:
        return None
    address = (settings.worker_metrics_host, settings.worker_metrics_port)
    try:
        return socket.create_server(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            log.info("another worker process serves this host's /metrics", extra={"port": address[1]})
            return None
        raise SystemExit(
            f"spectral-worker cannot serve /metrics on {address[0]}:{address[1]} ({exc.strerror}): "
            "give each worker process its own SPECTRAL_WORKER_METRICS_PORT, share one with "
            "PROMETHEUS_MULTIPROC_DIR, or set it to 0 for none"
        ) from exc


@asynccontextmanager
async def metrics_listener(settings: Settings, db: Database, queue: JobQueue) -> AsyncIterator[None]:
    """`GET /metrics` of this worker (the API's endpoint and rules) while the block runs."""
    sock = _metrics_socket(settings)
    if sock is None:
        yield
        return
    app = metrics_app(ProcessState(settings=settings, db=db, queue=queue))
    server = _MetricsServer(
        uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", proxy_headers=False, server_header=False
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]), name="worker-metrics")
    host, port = sock.getsockname()[:2]
    log.info("worker metrics served", extra={"url": f"http://{host}:{port}/metrics"})
    try:
        yield
    finally:
        server.should_exit = True
        await task
        sock.close()


async def run(settings: Settings, *, queues: Sequence[str], burst: bool = False) -> None:
    if not settings.redis_url:
        raise SystemExit(
            "spectral-worker needs SPECTRAL_REDIS_URL (the embedded default runs jobs in the API)"
        )
    with refuse_to_start("spectral-worker"):
        await reach_redis(settings.redis_url)
        await asyncio.to_thread(require_latest_schema, settings.resolved_database_url, newer_is_fine=True)
    db = Database.from_settings(settings)
    queue = await ArqQueue.connect(settings.redis_url, queue_names=settings.queue_names)
    try:
        await _partitions_ahead(db)
        async with metrics_listener(settings, db, queue):
            log.info("worker started", extra={"queues": list(queues)})
            await _run_workers(build_workers(settings, db, queue, queues=queues, burst=burst), burst=burst)
    finally:
        await queue.close()
        await db.dispose()
    log.info("worker stopped")


async def _partitions_ahead(db: Database) -> None:
    # Partitions ahead before the first hourly tick. The default partition catches any span
    # meanwhile, so a failure here (a lock not granted in time) is logged and left to the cron.
    try:
        created = await maintain_span_partitions({"db": db})
    except Exception:
        log.exception("span partitions not created at start-up; the hourly job retries")
    else:
        if created:
            log.info("span partitions created", extra={"days": [day.isoformat() for day in created]})


async def _run_workers(workers: Sequence[Worker], *, burst: bool) -> None:
    tasks = [asyncio.create_task(worker.async_run()) for worker in workers]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    if burst:
        await asyncio.gather(*tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    for worker in workers:
        await worker.close()
