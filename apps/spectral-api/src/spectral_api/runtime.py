"""What the API and the ingest service share as processes: building their state for the
process's lifetime, the app shell every Spectral ASGI app gets, and serving it with uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from spectral.platform.migrations.runner import require_latest_schema, upgrade
from spectral.platform.shared.db import Database
from spectral.platform.shared.logging import configure_logging
from spectral.platform.shared.queue import JobQueue
from spectral.platform.shared.read_cache import listen_for_changes
from spectral.platform.shared.settings import Environment, Settings, load_settings
from spectral.platform.shared.startup import check_port_free, reach_redis, refuse_to_start
from spectral_api.metrics import install_metrics
from spectral_api.middleware import BodyLimitMiddleware, InputCheckMiddleware, RequestContextMiddleware
from spectral_api.problems import complete_contract, install_problem_handlers
from spectral_api.state import AppState

QueueFactory = Callable[[Settings, Database], Awaitable[JobQueue]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


# Young-generation threshold while serving (CPython's default: 700 net allocations). With 64
# requests in flight, each holding a few hundred objects, 700 is reached every few requests, and
# the objects of requests still in flight are promoted to older generations on every pass.
SERVING_GC_THRESHOLD = 20_000


def tune_gc_for_serving() -> None:
    """Collections while serving cost what they must, not what start-up built.

    The start-up objects (modules, routes, models, mappers: some 260,000 that live as long as the
    process) are frozen out of every later collection: before, each full collection walked them
    all, pauses of 0.3-0.4 s every second or so on this API at 64 concurrent requests, stalling
    every request in flight. And young collections run after `SERVING_GC_THRESHOLD` net
    allocations instead of 700, so they no longer keep promoting the objects of requests still
    in flight (measured at 64 connections on the plain GET: from about 70 collections a second,
    10% of the process's time, to none in 7 s; reference cycles are still collected, later).
    Only for a process that serves and then exits (`served_app`): a process that runs apps in
    turn, as the tests do, would keep every frozen one."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(SERVING_GC_THRESHOLD, older, oldest)


# The app factory `serve` was given, for `served_app` in each of uvicorn's worker processes (they
# are spawned, and inherit the environment).
_APP_FACTORY_ENV = "SPECTRAL_SERVED_APP_FACTORY"


def served_app() -> FastAPI:
    """The app of a server process, built by the factory `serve` was given, GC tuned for serving."""
    module, _, name = os.environ[_APP_FACTORY_ENV].partition(":")
    app: FastAPI = getattr(importlib.import_module(module), name)()
    tune_gc_for_serving()
    return app


def prepare_embedded(settings: Settings) -> None:
    """The embedded default's data directory: its generated secret and its migrated SQLite file."""
    settings.jwt_secret_value()
    upgrade(settings.resolved_database_url)


def lifespan_for(settings: Settings, build_queue: QueueFactory, state: AppState | None = None) -> Lifespan:
    """The process's state, opened at start-up and closed at shutdown. The embedded default
    migrates its SQLite file and generates its secret first. A given `state` belongs to the caller."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state is not None:
            yield
            return
        if settings.env is Environment.EMBEDDED:
            await asyncio.to_thread(prepare_embedded, settings)
        db = Database.from_settings(settings)
        queue = await build_queue(settings, db)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        app.state.spectral = AppState(settings=settings, db=db, queue=queue, redis=redis)
        # Other processes' writes reach this process's caches through PostgreSQL notices.
        listener = (
            asyncio.create_task(listen_for_changes(db.url, db.generations), name="read-cache-listener")
            if db.dialect == "postgresql"
            else None
        )
        try:
            yield
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            app.state.spectral.scoring.close()
            if redis is not None:
                await redis.aclose()
            await queue.close()
            await db.dispose()

    return lifespan


def finish_app(app: FastAPI, state: AppState | None) -> FastAPI:
    """Request ids, access logs, the body limit, RFC 9457 problems and /metrics: every Spectral app has them."""
    if state is not None:
        app.state.spectral = state
    # The last added runs first: request id, then the body limit, then the input check on a body
    # the limit already bounds; a 413 or 422 from them carries X-Request-Id too.
    app.add_middleware(InputCheckMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestContextMiddleware)
    install_problem_handlers(app)
    install_metrics(app)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_contract(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def serve(prog: str, description: str, app_factory: str, *, ingest: bool = False) -> None:
    """The command line of a server process: `--host` and `--port` over the settings' defaults, and
    for the ingest service `--workers` (`SPECTRAL_INGEST_WORKERS`): it keeps no state between
    requests, so processes on more cores take more spans. `app_factory` is the import path of the
    app factory (`module:function`), which uvicorn calls in every worker process."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    with refuse_to_start(prog):
        settings = load_settings()
    parser.add_argument("--host", default=settings.ingest_host if ingest else settings.api_host)
    parser.add_argument("--port", type=int, default=settings.ingest_port if ingest else settings.api_port)
    if ingest:
        parser.add_argument("--workers", type=int, default=settings.ingest_workers)
    args = parser.parse_args()
    with refuse_to_start(prog):
        check_port_free(args.host, args.port, "SPECTRAL_INGEST_PORT" if ingest else "SPECTRAL_API_PORT")
        if settings.env is Environment.EMBEDDED:
            # Before uvicorn, so an unusable data directory is one line, not a lifespan traceback.
            prepare_embedded(settings)
        else:
            # Not migrated yet, every request would be a 500 behind a health check saying ok.
            require_latest_schema(settings.resolved_database_url, newer_is_fine=True)
        if settings.redis_url:
            asyncio.run(reach_redis(settings.redis_url))
    configure_logging(settings.log_level, json_lines=settings.log_json)
    os.environ[_APP_FACTORY_ENV] = app_factory
    uvicorn.run(
        f"{__name__}:{served_app.__name__}",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers if ingest else None,
        log_config=None,
        access_log=False,
        # The client address is taken from X-Forwarded-For by the app itself, only from the
        # proxies in SPECTRAL_TRUSTED_PROXIES; uvicorn's own rewrite would trust loopback.
        proxy_headers=False,
        server_header=False,
    )
