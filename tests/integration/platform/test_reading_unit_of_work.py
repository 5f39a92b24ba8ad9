"""PostgreSQL transactions begin with the first statement that needs one. A unit of work that only
reads (a GET) runs its reads outside a transaction, and still writes, when it does, as one
transaction: committed whole, rolled back whole, and its cache notice delivered with the commit,
not before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.shared.db import Database, driver_in_transaction
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.read_cache import CHANNEL, invalidate
from spectral.platform.shared.unit_of_work import unit_of_work

pytestmark = pytest.mark.usefixtures("reading_table")

_TABLE = "reading_uow_probe"


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    # One connection in the pool: every unit below reuses the one a unit before it returned.
    database = Database(pg_url.replace("postgresql+psycopg://", "postgresql://"), pool_size=1, max_overflow=0)
    yield database
    await database.dispose()


@pytest.fixture
async def reading_table(pg: Database) -> AsyncIterator[None]:
    async with pg.engine.begin() as conn:
        await conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {_TABLE} (id int PRIMARY KEY)")
        await conn.exec_driver_sql(f"TRUNCATE {_TABLE}")
    yield
    async with pg.engine.begin() as conn:
        await conn.exec_driver_sql(f"DROP TABLE {_TABLE}")


@pytest.fixture
async def queue() -> AsyncIterator[InProcessQueue]:
    in_process = InProcessQueue({}, {})
    yield in_process
    await in_process.close()


async def _status(session: AsyncSession) -> TransactionStatus:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver.info.transaction_status


async def _ids(pg: Database) -> list[int]:
    """What another connection sees committed (not one of `pg`'s pool, which holds only one)."""
    dsn = pg.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cursor = await conn.execute(f"SELECT id FROM {_TABLE} ORDER BY id")
        return [row[0] for row in await cursor.fetchall()]


async def test_a_read_runs_outside_a_transaction(pg: Database, queue: InProcessQueue) -> None:
    async with unit_of_work(pg, queue, writes=False) as session:
        assert (await session.exec(sa.select(sa.literal(1)))).one() == (1,)
        assert await _status(session) is TransactionStatus.IDLE
    async with unit_of_work(pg, queue) as session:
        await session.exec(sa.select(sa.literal(1)))
        # The connection went back to the pool transactional again.
        assert await _status(session) is TransactionStatus.INTRANS


@pytest.mark.parametrize(
    "statement",
    [
        f"INSERT INTO {_TABLE} VALUES (1)",
        f"SELECT id FROM {_TABLE} FOR UPDATE",
        f"SELECT id FROM {_TABLE} FOR NO KEY UPDATE",
        f"select id from {_TABLE} for share",
        "SELECT pg_advisory_xact_lock(42)",
        "SELECT pg_notify('spectral_probe', 'x')",
        f"WITH gone AS (DELETE FROM {_TABLE} RETURNING id) SELECT count(*) FROM gone",
        "SET LOCAL lock_timeout = '1s'",
    ],
)
async def test_anything_but_a_plain_read_begins_the_transaction(
    pg: Database, queue: InProcessQueue, statement: str
) -> None:
    async with unit_of_work(pg, queue, writes=False) as session:
        await session.exec(sa.select(sa.literal(1)))
        await session.exec(sa.text(statement))
        assert await _status(session) is TransactionStatus.INTRANS


async def test_writes_of_a_reading_unit_commit_together(pg: Database, queue: InProcessQueue) -> None:
    async with unit_of_work(pg, queue, writes=False) as session:
        await session.exec(sa.text(f"INSERT INTO {_TABLE} VALUES (1)"))
        await session.exec(sa.text(f"INSERT INTO {_TABLE} VALUES (2)"))
        assert await _ids(pg) == []  # not before the unit commits
    assert await _ids(pg) == [1, 2]


class _Refused(Exception):
    pass


async def _insert_in_reading_unit(
    pg: Database,
    queue: InProcessQueue,
    *ids: int,
    refuse: bool = False,
    writes: bool = False,
    driver: bool = False,
) -> None:
    """Insert `ids` in a unit of work (reading unless `writes`), through SQLAlchemy or straight
    through psycopg (`driver`), then fail if `refuse`."""
    async with unit_of_work(pg, queue, writes=writes) as session:
        for row_id in ids:
            insert = f"INSERT INTO {_TABLE} VALUES ({row_id})"
            if driver:
                await (await driver_in_transaction(session)).execute(insert)
            else:
                await session.exec(sa.text(insert))
        if refuse:
            raise _Refused


async def test_writes_of_a_failed_reading_unit_are_rolled_back_whole(
    pg: Database, queue: InProcessQueue
) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        await _insert_in_reading_unit(pg, queue, 1, 1)
    assert await _ids(pg) == []
    with pytest.raises(_Refused):
        await _insert_in_reading_unit(pg, queue, 3, refuse=True)
    assert await _ids(pg) == []
    # The pool's one connection is usable and transactional after both.
    async with unit_of_work(pg, queue) as session:
        await session.exec(sa.text(f"INSERT INTO {_TABLE} VALUES (4)"))
    assert await _ids(pg) == [4]


async def test_a_cache_notice_of_a_reading_unit_arrives_with_its_commit(
    pg: Database, queue: InProcessQueue, pg_url: str
) -> None:
    owner = uuid.uuid4()
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as listener:
        await listener.execute(f"LISTEN {CHANNEL}")
        notices = listener.notifies(timeout=0.3)
        async with unit_of_work(pg, queue, writes=False) as session:
            await invalidate(session, owner)
            await session.exec(sa.text(f"INSERT INTO {_TABLE} VALUES (5)"))
            assert [notice async for notice in notices] == []
        delivered = [notice.payload async for notice in listener.notifies(timeout=2, stop_after=1)]
    assert delivered == [str(owner)]


async def test_the_driver_connection_is_handed_out_in_the_transaction(
    pg: Database, queue: InProcessQueue
) -> None:
    """COPY and pipelines go to psycopg directly, past the statement hook: they still write in the
    unit's one transaction, even as its first statement, and roll back with it."""
    for writes in (True, False):
        with pytest.raises(_Refused):
            await _insert_in_reading_unit(pg, queue, 6, refuse=True, writes=writes, driver=True)
        assert await _ids(pg) == []
