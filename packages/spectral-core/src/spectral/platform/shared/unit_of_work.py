"""One transaction per request or job, and jobs enqueued only after it commits.

Services call `defer_job(session, ...)` instead of enqueueing: the job is buffered on the session
and sent by `unit_of_work` after a successful commit, dropped on rollback. A worker never sees a
job for a row that was not written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import DEFAULT_QUEUE, JobQueue

_PENDING_KEY = "spectral.pending_jobs"


@dataclass(frozen=True, slots=True)
class DeferredJob:
    function: str
    job_id: str
    queue: str
    kwargs: dict[str, Any]


def defer_job(
    session: AsyncSession, function: str, job_id: str, *, queue: str = DEFAULT_QUEUE, **kwargs: Any
) -> None:
    session.info.setdefault(_PENDING_KEY, []).append(DeferredJob(function, job_id, queue, kwargs))


async def commit_and_enqueue(session: AsyncSession, queue: JobQueue) -> None:
    await session.commit()
    pending: list[DeferredJob] = session.info.pop(_PENDING_KEY, [])
    for job in pending:
        await queue.enqueue(job.function, job.job_id, queue=job.queue, **job.kwargs)


def _untouched(session: AsyncSession) -> bool:
    """Nothing ran on the session and nothing waits to be written: committing or closing it
    would only cost time (a cached read uses no connection at all)."""
    return not (
        session.in_transaction()
        or session.new
        or session.dirty
        or session.deleted
        or session.info.get(_PENDING_KEY)
    )


@asynccontextmanager
async def unit_of_work(db: Database, queue: JobQueue, *, writes: bool = True) -> AsyncIterator[AsyncSession]:
    """`writes=False` for units that only read (a GET): on SQLite they do not queue for the
    write lock (see `Database.begin_writing`); on PostgreSQL their reads run outside a transaction,
    which begins only if they write (see `Database.reading_sessionmaker`)."""
    session = (db.sessionmaker if writes else db.reading_sessionmaker)()
    try:
        if writes:
            await db.begin_writing(session)
        try:
            yield session
        except BaseException:
            session.info.pop(_PENDING_KEY, None)
            if not _untouched(session):
                await session.rollback()
            raise
        if not _untouched(session):
            await commit_and_enqueue(session, queue)
    finally:
        if session.in_transaction() or session.identity_map:
            await session.close()
