"""Daily partitions of `spans` on PostgreSQL: created ahead, dropped whole when past retention.

`spans` is RANGE-partitioned by `start_time`, one partition per UTC day in the `span_partitions`
schema (`span_partitions.spans_YYYYMMDD`), plus `span_partitions.spans_default` for a span on a day
that has no partition yet (a clock far off, a late span from before the first partition): no span
is ever refused for its time. Why daily: retention is set in days and honoured by dropping whole
partitions, never by deleting rows; a day of spans is a comfortable unit to drop, vacuum and index
(see ADR-003).

A partition is made as a table of its own, filled with whatever the default partition holds for its
day, then attached: attaching locks `spans` only against schema changes (ingest and reads go on),
where `CREATE TABLE … PARTITION OF` would lock it whole. Both functions are idempotent and take one
advisory lock, so the worker's cron, its start-up and a second worker never race. SQLite has no
partitions: both are no-ops there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

SCHEMA = "span_partitions"
DEFAULT_PARTITION = f"{SCHEMA}.spans_default"
# Days ahead of today that always have a partition (the cron runs hourly; a week is slack for a
# worker that was down).
AHEAD_DAYS = 7
_NAME = re.compile(r"spans_(\d{8})")
# `spans_partitions_maintenance` as a 64-bit advisory lock key.
_LOCK_KEY = 0x5350_414E_5041_5254
# Waiting for a lock on `spans` behind a long read would hold up every writer queued behind us:
# give up instead and try again on the next tick.
_LOCK_TIMEOUT = "5s"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def partition_table(day: date) -> str:
    return f"{SCHEMA}.spans_{day:%Y%m%d}"


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def _exec(
    session: AsyncSession, sql: str, parameters: Mapping[str, object] | None = None
) -> sa.Result[object]:
    connection = await session.connection()
    return await connection.exec_driver_sql(sql, dict(parameters or {}))


async def span_partition_days(session: AsyncSession) -> list[date]:
    """The days that have a partition, oldest first (empty on SQLite)."""
    if not _is_postgres(session):
        return []
    result = await _exec(
        session,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'public.spans'::regclass",
    )
    days = []
    for (name,) in result:
        match = _NAME.fullmatch(str(name))
        if match is not None:
            days.append(datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date())
    return sorted(days)


async def _maintenance_lock(session: AsyncSession) -> None:
    await _exec(session, f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
    await _exec(session, f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


async def ensure_span_partitions(
    session: AsyncSession, today: date, ahead_days: int = AHEAD_DAYS
) -> list[date]:
    """Make sure yesterday, today and the next `ahead_days` days have partitions; the days created."""
    if not _is_postgres(session):
        return []
    await _maintenance_lock(session)
    existing = set(await span_partition_days(session))
    wanted = [today + timedelta(days=n) for n in range(-1, ahead_days + 1)]
    created = [day for day in wanted if day not in existing]
    for day in created:
        await _create_partition(session, day)
    return created


async def _create_partition(session: AsyncSession, day: date) -> None:
    table = partition_table(day)
    # Only dates are interpolated (formatted by us), never input.
    bounds = {"lo": day_start(day), "hi": day_start(day + timedelta(days=1))}
    await _exec(session, f"CREATE TABLE {table} (LIKE spans INCLUDING DEFAULTS INCLUDING STORAGE)")
    # Attaching scans the default partition for rows of the new day under an exclusive lock anyway;
    # taking it first (rather than upgrading to it) keeps a concurrent insert from deadlocking us.
    await _exec(session, f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")
    await _exec(
        session,
        f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608
        "WHERE start_time >= %(lo)s AND start_time < %(hi)s RETURNING *) "
        f"INSERT INTO {table} SELECT * FROM moved",
        bounds,
    )
    await _exec(
        session,
        f"ALTER TABLE spans ATTACH PARTITION {table} "
        f"FOR VALUES FROM ('{bounds['lo'].isoformat()}') TO ('{bounds['hi'].isoformat()}')",
    )
    # The parent's statistics targets (none sampled on the large unfiltered columns) per partition.
    unsampled = await _exec(
        session,
        "SELECT attname FROM pg_attribute "
        "WHERE attrelid = 'public.spans'::regclass AND attnum > 0 AND attstattarget = 0 ORDER BY attnum",
    )
    columns = [str(name) for (name,) in unsampled]
    if columns:
        clauses = ", ".join(f'ALTER COLUMN "{column}" SET STATISTICS 0' for column in columns)
        await _exec(session, f"ALTER TABLE {table} {clauses}")


async def drop_span_partitions_before(session: AsyncSession, cutoff: date) -> list[date]:
    """Drop every partition whose day ends by `cutoff` (a day's partition goes whole); the days."""
    if not _is_postgres(session):
        return []
    await _maintenance_lock(session)
    expired: Sequence[date] = [day for day in await span_partition_days(session) if day < cutoff]
    for day in expired:
        await _exec(session, f"ALTER TABLE spans DETACH PARTITION {partition_table(day)}")
        await _exec(session, f"DROP TABLE {partition_table(day)}")
    return list(expired)
