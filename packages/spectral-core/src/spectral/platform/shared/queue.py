"""The queue port: enqueue a job function by name with a job id.

Two adapters run the same job functions: `ArqQueue` hands them to `spectral-worker` processes
through Redis; `InProcessQueue` runs them on the caller's event loop (the embedded default).
The job id is the id of the row the job works on, so enqueueing the same id twice runs once.
Queues are named logically (`default`, `scans`); the Redis adapter maps them to its key names.
Job functions have arq's signature, `async def job(ctx: dict, **kwargs)`; `ctx` carries the
process's `db`, `settings` and `queue`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from spectral.platform.shared.errors import RateLimitedError

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A job run every `every_s` seconds: an arq cron job in the worker, a timer loop embedded."""

    name: str
    function: JobFunction
    every_s: int


DEFAULT_QUEUE = "default"
SCAN_QUEUE = "scans"

# Scans, experiments and validation runs share the scan queue, which runs jobs in the order they
# came, a couple at a time per worker: a workspace may have this many of each kind queued or
# running, so that no tenant can push every other tenant's runs back by hours.
MAX_ACTIVE_RUNS_PER_WORKSPACE = 10
# A run takes minutes; a client told to come back sooner would only be refused again.
BUSY_RETRY_AFTER_S = 60


def refuse_when_busy(kind: str, active: int) -> None:
    """The one refusal of a run past `MAX_ACTIVE_RUNS_PER_WORKSPACE`: 429 with `Retry-After`."""
    if active >= MAX_ACTIVE_RUNS_PER_WORKSPACE:
        raise RateLimitedError(
            f"The workspace already has {active} {kind} queued or running, the most it may have at "
            f"once ({MAX_ACTIVE_RUNS_PER_WORKSPACE}); wait for one to finish or cancel one",
            retry_after=BUSY_RETRY_AFTER_S,
        )


log = logging.getLogger("spectral.queue")


class JobQueue(Protocol):
    backend: str

    async def enqueue(self, function: str, job_id: str, *, queue: str = DEFAULT_QUEUE, **kwargs: Any) -> bool:
        """Enqueue `function(ctx, **kwargs)`; False when a job with this id is already known."""
        ...

    async def ping(self) -> bool: ...

    async def depth(self) -> int: ...

    async def close(self) -> None: ...


class InProcessQueue:
    """Runs jobs as tasks on the running event loop; remembers recent job ids to run each once."""

    backend = "in-process"

    def __init__(
        self, functions: Mapping[str, JobFunction], ctx: dict[str, Any], *, remember: int = 10_000
    ) -> None:
        self._functions = dict(functions)
        self._ctx = ctx
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._tasks: set[asyncio.Task[Any]] = set()
        self._periodic: list[asyncio.Task[None]] = []

    async def enqueue(self, function: str, job_id: str, *, queue: str = DEFAULT_QUEUE, **kwargs: Any) -> bool:
        if function not in self._functions:
            raise KeyError(f"no job function named {function!r}")
        if job_id in self._seen:
            return False
        self._seen[job_id] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        task = asyncio.create_task(self._run(function, job_id, kwargs), name=f"job:{function}:{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, function: str, job_id: str, kwargs: dict[str, Any]) -> None:
        ctx = {**self._ctx, "job_id": job_id, "job_try": 1}
        try:
            await self._functions[function](ctx, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job failed", extra={"job": function, "job_id": job_id})

    def start_periodic(self, jobs: Sequence[PeriodicJob]) -> None:
        """Run each periodic job on a timer for as long as the queue lives (the embedded default
        has no worker, so schedules and the reaper tick here)."""
        for job in jobs:
            self._periodic.append(asyncio.create_task(self._every(job), name=f"periodic:{job.name}"))

    async def _every(self, job: PeriodicJob) -> None:
        while True:
            await asyncio.sleep(job.every_s)
            try:
                await job.function(dict(self._ctx))
            except Exception:
                log.exception("periodic job failed", extra={"job": job.name})

    async def join(self) -> None:
        """Wait for every running job (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def ping(self) -> bool:
        return True

    async def depth(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        for task in [*self._periodic, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._periodic, *self._tasks, return_exceptions=True)


class ArqQueue:
    """Enqueues into Redis for `spectral-worker`; arq refuses a job id it already holds."""

    backend = "redis"

    def __init__(self, redis: ArqRedis, *, queue_names: Mapping[str, str]) -> None:
        self._redis = redis
        self.queue_names = dict(queue_names)

    @classmethod
    async def connect(cls, redis_url: str, *, queue_names: Mapping[str, str]) -> ArqQueue:
        settings = RedisSettings.from_dsn(redis_url)
        settings.conn_retries = 1
        pool = await create_pool(settings, default_queue_name=queue_names[DEFAULT_QUEUE])
        return cls(pool, queue_names=queue_names)

    @property
    def redis(self) -> ArqRedis:
        return self._redis

    async def enqueue(self, function: str, job_id: str, *, queue: str = DEFAULT_QUEUE, **kwargs: Any) -> bool:
        job = await self._redis.enqueue_job(
            function, _job_id=job_id, _queue_name=self.queue_names[queue], **kwargs
        )
        return job is not None

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def depth(self) -> int:
        total = 0
        for name in self.queue_names.values():
            total += int(await self._redis.zcard(name))
        return total

    async def close(self) -> None:
        await self._redis.aclose()
