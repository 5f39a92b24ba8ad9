"""The API's composition root: settings, database, queue and routers are wired here and only here."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from spectral.platform.jobs import JOB_FUNCTIONS, PERIODIC_JOBS
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import ArqQueue, InProcessQueue, JobQueue
from spectral.platform.shared.settings import Settings, load_settings
from spectral_api import console
from spectral_api.hot_path import RuntimeConfigPath
from spectral_api.routes import (
    accounts,
    agent,
    agents,
    auth,
    changeset_clusters,
    changeset_experiments,
    changeset_validation,
    changesets,
    dashboard,
    health,
    inference,
    keys,
    objectives,
    operations,
    operations_models,
    otel,
    rubrics,
    samples,
    scans,
    supervisor,
    traces,
    workspaces,
)
from spectral_api.runtime import finish_app, lifespan_for
from spectral_api.state import AppState

# The 20 router groups of the API contract, in the order the docs list them.
OPENAPI_TAGS = [
    {"name": "Auth", "description": "Register, log in, tokens, OAuth and password reset"},
    {"name": "Accounts", "description": "The caller's account, its members and invites"},
    {"name": "Workspaces", "description": "Workspaces, members, autonomy and health"},
    {"name": "Keys", "description": "Workspace API keys (sk_live_…)"},
    {"name": "Agents", "description": "Agents, config versions, managed templates, runtime config"},
    {"name": "Agent", "description": "The built-in assistant: conversations and approvals"},
    {"name": "Scans", "description": "Optimization scans, events, cost, reports and schedules"},
    {"name": "Changesets", "description": "Change sets and their lifecycle"},
    {"name": "Changeset Clusters", "description": "Failure clusters behind a change set"},
    {"name": "Changeset Experiments", "description": "Replay experiments of candidate configs"},
    {"name": "Changeset Validation", "description": "Holdout validation runs"},
    {"name": "Rubrics", "description": "Rubrics: scoring dimensions"},
    {"name": "Objectives", "description": "Objective functions over quality, cost and latency"},
    {"name": "Samples", "description": "Sample sets and items"},
    {"name": "Traces", "description": "Traces, spans and feedback"},
    {"name": "Inference", "description": "Template inference from prompts"},
    {"name": "Dashboard", "description": "Control plane, morning briefing, workflow overview"},
    {"name": "Supervisor", "description": "The supervisor's state, plans and reports"},
    {"name": "OTEL", "description": "OpenTelemetry OTLP/HTTP trace ingestion"},
    {"name": "Operations", "description": "Platform operations: models, providers, tenants"},
    {"name": "Health", "description": "Liveness and dependencies"},
]

ROUTERS: list[APIRouter] = [
    auth.router,
    accounts.router,
    workspaces.router,
    keys.router,
    agents.router,
    agent.router,
    scans.router,
    # Before `changesets`: `/changesets/experiments` must not be read as a change set id.
    changeset_experiments.router,
    changesets.router,
    changeset_clusters.router,
    changeset_validation.router,
    inference.router,
    rubrics.router,
    objectives.router,
    samples.router,
    traces.router,
    dashboard.router,
    supervisor.router,
    otel.router,
    operations.router,
    operations_models.router,
    health.router,
]


async def build_queue(settings: Settings, db: Database) -> JobQueue:
    if settings.redis_url:
        return await ArqQueue.connect(settings.redis_url, queue_names=settings.queue_names)
    ctx: dict[str, object] = {"db": db, "settings": settings}
    queue = InProcessQueue(JOB_FUNCTIONS, ctx)
    ctx["queue"] = queue
    queue.start_periodic(PERIODIC_JOBS)
    return queue


def create_app(settings: Settings | None = None, *, state: AppState | None = None) -> FastAPI:
    """Build the app. `state` is for callers that own the database and queue (tests, embedding)."""
    settings = settings or load_settings()
    app = FastAPIOffline(
        title="Spectral API",
        version=version("spectral-api"),
        description="Traces in, rubrics and objectives, optimization scans, validated change sets.",
        openapi_tags=OPENAPI_TAGS,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        lifespan=lifespan_for(settings, build_queue, state),
    )
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(console.router)  # the web console at `/` (not part of the API contract)
    # Added before finish_app's layers, so it runs inside them: request ids, logs and edge checks apply.
    app.add_middleware(RuntimeConfigPath)
    return finish_app(app, state)
