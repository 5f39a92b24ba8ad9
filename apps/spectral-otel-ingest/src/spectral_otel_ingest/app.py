"""The ingest service's composition root: the API's OTLP router, problem handlers, request-id
middleware and health on a small app of their own, so ingestion scales (and fails) independently
of the API. No `/api/v1` routes are served here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from redis.asyncio import Redis

from spectral.platform.migrations.runner import upgrade
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import ArqQueue, InProcessQueue, JobQueue
from spectral.platform.shared.settings import Environment, Settings, load_settings
from spectral_api.middleware import RequestContextMiddleware
from spectral_api.problems import install_problem_handlers
from spectral_api.routes import health, otel
from spectral_api.state import AppState


async def build_queue(settings: Settings) -> JobQueue:
    """Ingest enqueues no jobs; the unit of work still wants a queue to flush after commit."""
    if settings.redis_url:
        return await ArqQueue.connect(settings.redis_url, queue_names=settings.queue_names)
    return InProcessQueue({}, {})


def create_app(settings: Settings | None = None, *, state: AppState | None = None) -> FastAPI:
    """Build the ingest app. `state` is for callers that own the database and queue (tests)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state is not None:
            yield
            return
        if settings.env is Environment.EMBEDDED:
            await asyncio.to_thread(upgrade, settings.resolved_database_url)
        db = Database(settings.resolved_database_url)
        queue = await build_queue(settings)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        app.state.spectral = AppState(settings=settings, db=db, queue=queue, redis=redis)
        try:
            yield
        finally:
            if redis is not None:
                await redis.aclose()
            await queue.close()
            await db.dispose()

    app = FastAPI(
        title="Spectral OTLP ingest",
        version=version("spectral-otel-ingest"),
        description="OpenTelemetry OTLP/HTTP trace ingestion (protobuf and JSON) at /otel/v1/traces.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    if state is not None:
        app.state.spectral = state
    app.add_middleware(RequestContextMiddleware)
    install_problem_handlers(app)
    app.include_router(otel.router)
    app.include_router(health.router)
    return app
