"""Shared fixtures: one fresh PostgreSQL database per test run (and xdist worker), built by
`alembic upgrade head`; every test runs inside an outer transaction that is rolled back, so tests
never see each other's rows. SQLite tests get a copy of a migrated template file per test.

Fixtures for API tests:
- `backend` ("postgres" by default; tests marked `both_backends` also run on "sqlite"),
- `db` (a `Database` bound to the test's transaction), `queue` (in-process), `settings`,
- `app`, `client` (httpx over ASGITransport).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from processes import fresh_database
from servers import serve_in_thread
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.migrations.runner import upgrade
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Environment, Settings
from spectral_api.app import create_app
from spectral_api.state import AppState
from testenv import PG_ADMIN_DSN, TEST_JWT_SECRET

pytest_plugins = ["fixtures_identity"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_backends: run the test on PostgreSQL and on SQLite")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_backends") is not None
        metafunc.parametrize("backend", ["postgres", "sqlite"] if both else ["postgres"], scope="function")


def _run_suffix(worker_id: str) -> str:
    return f"{worker_id}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def run_id(worker_id: str) -> str:
    return _run_suffix(worker_id)


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def pg_url(run_id: str) -> Iterator[str]:
    """A database of its own for this run, migrated to head, dropped at the end."""
    name = f"spectral_test_{run_id}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
async def db(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if backend == "sqlite":
        path = tmp_path / "spectral.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
        yield database
        await database.dispose()
        return
    database = Database(request.getfixturevalue("pg_url"), pool_size=2)
    async with database.engine.connect() as conn:
        outer = await conn.begin()
        # Every session of the app joins this connection; its commits become savepoint releases.
        database.sessionmaker = async_sessionmaker(
            bind=conn, class_=AsyncSession, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        # Reads join it too (they run in autocommit only on a database of their own).
        database.reading_sessionmaker = database.sessionmaker
        try:
            yield database
        finally:
            await outer.rollback()
    await database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.TEST,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
        replay_allow_private=True,
    )


@pytest.fixture
async def queue(db: Database, settings: Settings) -> AsyncIterator[InProcessQueue]:
    ctx: dict[str, object] = {"db": db, "settings": settings}
    in_process = InProcessQueue(JOB_FUNCTIONS, ctx)
    ctx["queue"] = in_process
    yield in_process
    await in_process.join()
    await in_process.close()


@pytest.fixture
def app(settings: Settings, db: Database, queue: InProcessQueue) -> FastAPI:
    return create_app(settings, state=AppState(settings=settings, db=db, queue=queue))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def live_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own, for a real server that commits (no outer transaction)."""
    if backend == "sqlite":
        path = tmp_path / "live.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    with fresh_database() as url:
        upgrade(url)
        yield url


@dataclass(frozen=True, slots=True)
class LiveApi:
    url: str
    settings: Settings


@contextmanager
def running_api(database_url: str, data_dir: Path, **overrides: object) -> Iterator[LiveApi]:
    """The API served by uvicorn on 127.0.0.1, building its own state on the server's loop. Rate
    limits are lifted unless a test sets them: no test depends on the defaults or machine speed."""
    options: dict[str, object] = {
        "env": Environment.TEST,
        "data_dir": data_dir,
        "database_url": database_url,
        "jwt_secret": TEST_JWT_SECRET,
        "replay_allow_private": True,
        "rate_limit_api_per_minute": 1_000_000,
        "rate_limit_login_per_minute": 1_000_000,
        **overrides,
    }
    settings = Settings(**options)  # type: ignore[arg-type]
    with serve_in_thread(create_app(settings), lifespan="on") as url:
        yield LiveApi(url=url, settings=settings)


@pytest.fixture
def live_api(live_database_url: str, tmp_path: Path) -> Iterator[LiveApi]:
    with running_api(live_database_url, tmp_path / "live-data") as api:
        yield api
