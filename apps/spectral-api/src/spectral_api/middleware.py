"""Request id and one structured access-log line per request, and the one bound on request bodies
(plain ASGI: no per-request task)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import cast

from fastapi import HTTPException
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spectral_api.auth import bearer_token
from spectral_api.problems import problem

log = logging.getLogger("spectral.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = supplied if _VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *(h for h in message["headers"] if h[0].lower() != b"x-request-id"),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "request_id": request_id,
                },
            )


# A route whose handler streams its body against a limit of its own names the setting here, in
# `openapi_extra` (it also tells API users which limit applies); every other body gets the JSON limit.
BODY_LIMIT_EXTENSION = "x-spectral-body-limit-setting"


def _requires_token(dependant: Dependant) -> bool:
    return any(dep.call is bearer_token or _requires_token(dep) for dep in dependant.dependencies)


class BodyLimitMiddleware:
    """One bound on every request body, before the app reads it.

    A `Content-Length` over the limit is a 413 at once; a chunked body is counted as it streams in
    and the read that crosses the limit raises a 413, so the server never holds more than the limit.
    A body for a route that needs a token but came without `Authorization` is a 401 before any of
    it is read: anonymous clients cannot make the server read large bodies at all.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._needs_token: dict[int, bool] = {}

    def _route(self, scope: Scope) -> BaseRoute | None:
        for route in scope["app"].router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return cast(BaseRoute, route)
        return None

    def _route_needs_token(self, route: BaseRoute) -> bool:
        key = id(route)
        if key not in self._needs_token:
            self._needs_token[key] = isinstance(route, APIRoute) and _requires_token(route.dependant)
        return self._needs_token[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not chunked and declared in (None, "0"):
            await self.app(scope, receive, send)
            return
        settings = scope["app"].state.spectral.settings
        route = self._route(scope)
        limit: int = settings.max_json_body_bytes
        if (
            isinstance(route, APIRoute)
            and route.openapi_extra
            and BODY_LIMIT_EXTENSION in route.openapi_extra
        ):
            limit = getattr(settings, route.openapi_extra[BODY_LIMIT_EXTENSION])
        if route is not None and "authorization" not in headers and self._route_needs_token(route):
            response = problem(
                Request(scope),
                401,
                "Authentication required: send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": 'Bearer realm="spectral"', "Connection": "close"},
            )
            await response(scope, receive, send)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            status, detail = (
                (413, f"The request body exceeds the limit of {limit} bytes")
                if declared.isdigit()
                else (400, "Content-Length is not a number")
            )
            response = problem(Request(scope), status, detail, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException: FastAPI re-raises it from its body parsing, and the one
                    # problem handler shapes it, wherever the body was being read.
                    raise HTTPException(413, f"The request body exceeds the limit of {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)
