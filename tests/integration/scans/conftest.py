"""Scan tests run the whole loop in one process: the API app on a database that really commits
(the scan job opens its own sessions and runs the engine on a thread), the in-process queue, and
the demo agent's replay endpoint served on loopback."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from servers import serve_in_thread
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue, JobFunction
from spectral.platform.shared.settings import Settings
from spectral_api.app import create_app
from spectral_api.state import AppState
from spectral_cli.demo.agent import create_app as create_demo_agent
from spectral_cli.demo.workspace import DemoWorkspace, demo_workspace

DEMO_SEED = 7


@pytest.fixture(scope="session")
def demo() -> DemoWorkspace:
    return demo_workspace(DEMO_SEED, n_traces=900)


@pytest.fixture(scope="session")
def demo_agent_url() -> Iterator[str]:
    with serve_in_thread(create_demo_agent(DEMO_SEED)) as url:
        yield f"{url}/replay"


@dataclass(slots=True)
class Live:
    app: FastAPI
    client: httpx.AsyncClient
    queue: InProcessQueue
    db: Database


@asynccontextmanager
async def _live(
    database_url: str, settings: Settings, functions: dict[str, JobFunction]
) -> AsyncIterator[Live]:
    db = Database(database_url, pool_size=4)
    ctx: dict[str, object] = {"db": db, "settings": settings}
    queue = InProcessQueue(functions, ctx)
    ctx["queue"] = queue
    app = create_app(settings, state=AppState(settings=settings, db=db, queue=queue))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
        yield Live(app=app, client=client, queue=queue, db=db)
    await queue.join()
    await queue.close()
    await db.dispose()


@pytest.fixture
async def live(pg_url: str, settings: Settings) -> AsyncIterator[Live]:
    async with _live(pg_url, settings, JOB_FUNCTIONS) as running:
        yield running


@pytest.fixture
async def embedded(sqlite_template: Path, tmp_path: Path, settings: Settings) -> AsyncIterator[Live]:
    """The embedded default: a SQLite file of its own and the in-process queue."""
    path = tmp_path / "embedded.db"
    shutil.copy(sqlite_template, path)
    async with _live(f"sqlite:///{path}", settings, JOB_FUNCTIONS) as running:
        yield running


@pytest.fixture(params=["postgres", "sqlite"])
async def either(
    request: pytest.FixtureRequest, pg_url: str, sqlite_template: Path, tmp_path: Path, settings: Settings
) -> AsyncIterator[Live]:
    """`live` on PostgreSQL, then `embedded` on SQLite: for queries that must work on both."""
    url = pg_url
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp_path / "either.db")
        url = f"sqlite:///{tmp_path / 'either.db'}"
    async with _live(url, settings, JOB_FUNCTIONS) as running:
        yield running


@dataclass(slots=True)
class Gated:
    live: Live
    gate: asyncio.Event


@pytest.fixture
async def gated(pg_url: str, settings: Settings) -> AsyncIterator[Gated]:
    """Like `live`, but scan jobs wait for `gate` before they run (to observe a queued scan)."""
    gate = asyncio.Event()

    async def run_scan_when_open(ctx: dict[str, Any], **kwargs: Any) -> Any:
        await gate.wait()
        return await JOB_FUNCTIONS["run_scan"](ctx, **kwargs)

    async with _live(pg_url, settings, {**JOB_FUNCTIONS, "run_scan": run_scan_when_open}) as running:
        yield Gated(running, gate)
        gate.set()
