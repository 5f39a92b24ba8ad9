"""Database access: one metadata, async engines for PostgreSQL (psycopg 3) and SQLite (aiosqlite).

Services receive an `AsyncSession` and flush, never commit: the caller (the API's unit of work or
a worker job) owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.shared.private_files import private_sqlite_file
from spectral.platform.shared.read_cache import GENERATIONS_KEY, Generations
from spectral.platform.shared.settings import Settings
from spectral.platform.shared.stored_json import load_stored_json

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata

_AFTER_COMMIT_KEY = "spectral.after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction commits (e.g. to count what it wrote);
    dropped if the transaction ends any other way. A savepoint's release is not the commit."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for callback in session.info.pop(_AFTER_COMMIT_KEY, []):
        callback()


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_AFTER_COMMIT_KEY, None)


# JSON that is JSONB (indexable) on PostgreSQL and JSON text on SQLite.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def json_column(*, nullable: bool = False, default: Any = None) -> Any:
    kwargs: dict[str, Any] = {"nullable": nullable}
    if default is not None:
        kwargs["default"] = default
    return sa.Column(JSONType, **kwargs)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


def async_url(url: str) -> str:
    """Map a configured URL to its async driver (the same URL also serves Alembic, synchronously)."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sync_url(url: str) -> str:
    if url.startswith("sqlite+aiosqlite:"):
        return "sqlite:" + url.removeprefix("sqlite+aiosqlite:")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))


# Execution option of a session's first connection: how its SQLite transaction begins.
SQLITE_BEGIN_OPTION = "spectral_sqlite_begin"
SQLITE_BEGIN_IMMEDIATE = {SQLITE_BEGIN_OPTION: "IMMEDIATE"}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN is off: `_sqlite_begin` emits every BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    """BEGIN IMMEDIATE for a writing unit of work: it takes SQLite's write lock first (waiting up to
    busy_timeout), so it can never read a snapshot and then fail to upgrade it to a write. A
    deferred BEGIN that read first and writes second fails at once with "database is locked"
    when another writer committed in between: that was the lost writes of concurrent requests."""
    mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")


# PostgreSQL transactions begin when the first statement that needs one is sent, not when a
# connection is taken: every connection is in autocommit at the driver, and `_begin_when_needed`
# sends BEGIN before a unit of work's first statement. A unit that only reads (a GET, marked with
# this execution option) runs its plain reads outside a transaction: under READ COMMITTED every
# statement takes its own snapshot anyway, so a read loses nothing, and the request saves BEGIN's
# and COMMIT's round trips. psycopg ends what was begun: its commit and rollback act on the
# server's transaction whatever the connection's autocommit says, and cost nothing when there is
# none. (Switching the isolation level per checkout instead would cost most of what it saves.)
READS_OUTSIDE_TRANSACTION = "spectral_reads_outside_transaction"

# A statement a reading unit may run outside a transaction: a SELECT with no side effect and no row
# lock. Anything else (DML, DDL, SAVEPOINT, SET LOCAL, a locking or notifying SELECT, a CTE) begins
# the transaction first; a statement wrongly taken for a writer only costs a BEGIN.
_READ_STATEMENT = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_SIDE_EFFECT = re.compile(
    r"\b(?:pg_notify|pg_advisory\w*|nextval|setval|set_config)\s*\(|\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE)\b"
    r"|\bFOR\s+KEY\s+SHARE\b",
    re.IGNORECASE,
)


def _outside_transaction(driver: Any) -> bool:
    return bool(driver.info.transaction_status == TransactionStatus.IDLE)


def _begin_when_needed(
    conn: sa.Connection, cursor: Any, statement: str, _parameters: Any, _context: Any, _executemany: bool
) -> None:
    """BEGIN before the first statement of a transaction, or, in a reading unit, before its first
    statement that is not a plain read: a GET that writes (an API key's `last_used_at`, a cache's
    NOTIFY, which is sent before the flush's writes) still writes as one transaction."""
    if not _outside_transaction(conn.connection.driver_connection):
        return
    if (
        conn.get_execution_options().get(READS_OUTSIDE_TRANSACTION)
        and _READ_STATEMENT.match(statement)
        and not _SIDE_EFFECT.search(statement)
    ):
        return
    cursor.execute("BEGIN")


async def driver_in_transaction(session: AsyncSession) -> Any:
    """The psycopg connection under `session`'s, in its transaction (begun here if no statement
    has begun it yet), for COPY, pipelines and raw SQL, which bypass `_begin_when_needed`."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if _outside_transaction(driver):
        await driver.execute("BEGIN")
    return driver


class Database:
    """An engine and its session factory; one per process, built in the composition root.

    PostgreSQL connections are not pinged at checkout (a round trip per request): a connection the
    server dropped fails its first statement, which invalidates every connection older than it
    (the request gets a 503 to retry), and `pool_recycle_s` retires connections before idle
    timeouts on the way (proxies, firewalls) can cut them. `pool_size` connections stay open;
    `max_overflow` more (default: as many again) are opened past that and closed when returned
    (0: requests wait for a free connection instead)."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 10,
        max_overflow: int | None = None,
        pool_recycle_s: int = 1800,
    ) -> None:
        self.url = async_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if is_postgres(self.url):
            kwargs.update(
                isolation_level="AUTOCOMMIT",  # transactions begin lazily: `_begin_when_needed`
                pool_size=pool_size,
                max_overflow=pool_size if max_overflow is None else max_overflow,
                pool_recycle=pool_recycle_s,
            )
        else:
            kwargs.update(connect_args={"timeout": 30})
            private_sqlite_file(sync_url(self.url))
        # Stored JSON that nests too deep to read is clamped on read instead of failing it.
        self.engine: AsyncEngine = create_async_engine(self.url, json_deserializer=load_stored_json, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        else:
            event.listen(self.engine.sync_engine, "before_cursor_execute", _begin_when_needed)
        # What this process has cached is invalidated by its own commits at once (see read_cache);
        # on PostgreSQL other processes' commits arrive through `listen_for_changes`.
        self.generations = Generations(needs_listener=self.dialect == "postgresql")
        self.sessionmaker = self._sessions(self.engine)
        # Units of work that only read (a GET): see READS_OUTSIDE_TRANSACTION.
        self.reading_sessionmaker = self.sessionmaker
        if self.dialect == "postgresql":
            reading = self.engine.execution_options(**{READS_OUTSIDE_TRANSACTION: True})
            self.reading_sessionmaker = self._sessions(reading)

    def _sessions(self, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
        return async_sessionmaker(
            engine,
            class_=AsyncSession,
            expire_on_commit=False,
            info={GENERATIONS_KEY: self.generations},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_recycle_s=settings.db_pool_recycle_s,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def begin_writing(self, session: AsyncSession) -> None:
        """Start `session`'s transaction as a writer: on SQLite it holds the write lock from its
        first statement (writers queue instead of failing); PostgreSQL needs nothing here, its
        writers lock the rows they allocate from (`SELECT … FOR UPDATE`)."""
        if self.dialect == "sqlite":
            await session.connection(execution_options=SQLITE_BEGIN_IMMEDIATE)

    @asynccontextmanager
    async def session(self, *, writes: bool = True) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error. It starts as a
        writer (`begin_writing`): on SQLite a unit that reads before it writes would otherwise fail
        with "database is locked" as soon as another writer commits in between (concurrent scans
        writing their events and phase outputs). `writes=False` for a unit that only reads: it
        takes no write lock on SQLite and reads outside a transaction on PostgreSQL (see
        READS_OUTSIDE_TRANSACTION); it may still write, as the API's GETs may."""
        async with (self.sessionmaker if writes else self.reading_sessionmaker)() as session:
            try:
                if writes:
                    await self.begin_writing(session)
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
