"""The ingest service's composition root: the API's OTLP router, problem handlers, request-id
middleware and health on a small app of their own, so ingestion scales (and fails) independently
of the API. No `/api/v1` routes are served here."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import FastAPI

from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import ArqQueue, InProcessQueue, JobQueue
from spectral.platform.shared.settings import Settings, load_settings
from spectral_api.routes import health, otel
from spectral_api.runtime import finish_app, lifespan_for
from spectral_api.state import AppState


async def build_queue(settings: Settings, db: Database) -> JobQueue:
    """Ingest enqueues online-scoring jobs after its commits: to the workers through Redis, or,
    without Redis, run in this process like the embedded API runs them."""
    if settings.redis_url:
        return await ArqQueue.connect(settings.redis_url, queue_names=settings.queue_names)
    ctx: dict[str, object] = {"db": db, "settings": settings}
    queue = InProcessQueue(JOB_FUNCTIONS, ctx)
    ctx["queue"] = queue
    return queue


def create_app(settings: Settings | None = None, *, state: AppState | None = None) -> FastAPI:
    """Build the ingest app. `state` is for callers that own the database and queue (tests)."""
    settings = settings or load_settings()
    app = FastAPI(
        title="Spectral OTLP ingest",
        version=version("spectral-otel-ingest"),
        description="OpenTelemetry OTLP/HTTP trace ingestion (protobuf and JSON) at /otel/v1/traces.",
        lifespan=lifespan_for(settings, build_queue, state),
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(otel.router)
    app.include_router(health.router)
    return finish_app(app, state)
