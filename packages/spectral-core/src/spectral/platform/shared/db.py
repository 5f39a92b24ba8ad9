"""Database access: one metadata, async engines for PostgreSQL (psycopg 3) and SQLite (aiosqlite).

Services receive an `AsyncSession` and flush, never commit: the caller (the API's unit of work or
a worker job) owns the transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
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
        # What this process has cached is invalidated by its own commits at once (see read_cache);
        # on PostgreSQL other processes' commits arrive through `listen_for_changes`.
        self.generations = Generations(needs_listener=self.dialect == "postgresql")
        self.sessionmaker = async_sessionmaker(
            self.engine,
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
    async def session(self, *, writes: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error. `writes=True` for
        a unit that writes (a job's): it starts as a writer (`begin_writing`), else on SQLite a
        unit that reads before it writes fails with "database is locked" as soon as another
        writer commits in between (concurrent scans writing their events and phase outputs)."""
        async with self.sessionmaker() as session:
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
