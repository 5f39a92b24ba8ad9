"""What a request's unit of work costs on PostgreSQL, reading (a GET) against writing.

    uv run python bench/unit_of_work.py [--units 2000] [--rounds 5]

Both run the same one-row primary-key read through `unit_of_work`, on a pool of the platform's
own `Database`: a writing unit sends BEGIN before it and COMMIT after it; a reading unit sends the
read alone (see `READS_OUTSIDE_TRANSACTION` in `spectral.platform.shared.db`). The two alternate
for `--rounds` rounds; each line is the median round, as client CPU (this process: SQLAlchemy,
psycopg, the event loop) and wall time per unit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

import psycopg
import sqlalchemy as sa

from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.unit_of_work import unit_of_work

PG_ADMIN_DSN = os.environ.get("SPECTRAL_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _round(db: Database, queue: InProcessQueue, *, writes: bool, units: int) -> tuple[float, float]:
    read = sa.text("SELECT id, name FROM bench_uow WHERE id = 1")
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(units):
        async with unit_of_work(db, queue, writes=writes) as session:
            (await session.exec(read)).one()  # type: ignore[call-overload]
    return (time.process_time() - cpu) / units * 1e6, (time.perf_counter() - wall) / units * 1e6


async def measure(dsn: str, units: int, rounds: int) -> dict[bool, tuple[float, float]]:
    db = Database(dsn, pool_size=2)
    queue = InProcessQueue({}, {})
    try:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE bench_uow (id int PRIMARY KEY, name text)")
            await conn.exec_driver_sql("INSERT INTO bench_uow VALUES (1, 'support-bot')")
        for writes in (True, False):  # warm the pool and the statement caches
            await _round(db, queue, writes=writes, units=200)
        found: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(rounds):
            for writes in (True, False):
                found[writes].append(await _round(db, queue, writes=writes, units=units))
        return {
            writes: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
            for writes, runs in found.items()
        }
    finally:
        await db.dispose()
        await queue.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    name = f"spectral_bench_uow_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        results = asyncio.run(measure(PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}", args.units, args.rounds))
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    (write_cpu, write_wall), (read_cpu, read_wall) = results[True], results[False]
    print(f"load average {os.getloadavg()[0]:.1f}; {args.units} units x {args.rounds} rounds, medians")
    print("| unit of work | client CPU us/unit | wall us/unit |")
    print("|---|---|---|")
    print(f"| writing (BEGIN, read, COMMIT) | {write_cpu:.0f} | {write_wall:.0f} |")
    print(f"| reading (read alone) | {read_cpu:.0f} | {read_wall:.0f} |")
    print(f"| reading / writing | {read_cpu / write_cpu:.0%} | {read_wall / write_wall:.0%} |")


if __name__ == "__main__":
    main()
