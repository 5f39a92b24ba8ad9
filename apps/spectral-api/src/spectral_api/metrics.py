"""`GET /metrics` (Prometheus text format) on every Spectral process, guarded by SPECTRAL_METRICS:
off (404), loopback (other clients 403) or token (a bearer token, else 401). The API and ingest
servers serve it among their routes; the worker, which has no HTTP server, serves `metrics_app`."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Protocol

from fastapi import FastAPI, Request, Response

from spectral.platform.gauges import read_gauges
from spectral.platform.shared import metrics
from spectral.platform.shared.db import Database
from spectral.platform.shared.errors import AuthenticationError, ForbiddenError, NotFoundError
from spectral.platform.shared.queue import JobQueue
from spectral.platform.shared.settings import Settings
from spectral_api.middleware import RequestContextMiddleware
from spectral_api.problems import install_problem_handlers


class MetricsState(Protocol):
    """What a scrape reads besides the process's own series (the API's `AppState` has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def queue(self) -> JobQueue: ...


@dataclass(frozen=True, slots=True)
class ProcessState:
    """The `MetricsState` of a process that serves nothing but `/metrics` (the worker)."""

    settings: Settings
    db: Database
    queue: JobQueue


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def read_metrics(request: Request) -> Response:
    state: MetricsState = request.app.state.spectral
    settings = state.settings
    if settings.metrics == "off":
        raise NotFoundError("metrics are off (SPECTRAL_METRICS)")
    if settings.metrics == "loopback" and not _is_loopback(request.client.host if request.client else None):
        raise ForbiddenError("metrics are served to loopback clients only (SPECTRAL_METRICS=loopback)")
    if settings.metrics == "token":
        expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise AuthenticationError("metrics need the bearer token of SPECTRAL_METRICS_TOKEN")
    await read_gauges(state.db, state.queue, settings)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


def install_metrics(app: FastAPI) -> None:
    app.add_api_route("/metrics", read_metrics, methods=["GET"], include_in_schema=False)


def metrics_app(state: MetricsState) -> FastAPI:
    """An app of `/metrics` alone, with request ids, access logs and RFC 9457 problems."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.spectral = state
    app.add_middleware(RequestContextMiddleware)
    install_problem_handlers(app)
    install_metrics(app)
    return app
