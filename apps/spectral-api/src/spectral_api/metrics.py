"""`GET /metrics` (Prometheus text format) on every Spectral server, guarded by SPECTRAL_METRICS:
off (404), loopback (other clients 403) or token (a bearer token, else 401)."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import FastAPI, Request, Response

from spectral.platform.shared import metrics
from spectral.platform.shared.errors import AuthenticationError, ForbiddenError, NotFoundError
from spectral_api.state import AppState


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def read_metrics(request: Request) -> Response:
    state: AppState = request.app.state.spectral
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
    metrics.QUEUE_DEPTH.set(await state.queue.depth())
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


def install_metrics(app: FastAPI) -> None:
    app.add_api_route("/metrics", read_metrics, methods=["GET"], include_in_schema=False)
