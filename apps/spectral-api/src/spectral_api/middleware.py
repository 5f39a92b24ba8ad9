"""Request id and one structured access-log line per request, and the one bound on request bodies
(plain ASGI: no per-request task)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spectral.platform.shared import metrics
from spectral.platform.shared.errors import AuthenticationError
from spectral.platform.shared.logging import log_context
from spectral.platform.shared.schema_types import NUL, Loc, unstorable_values
from spectral.platform.shared.stored_json import MAX_REQUEST_JSON_DEPTH, nests_deeper_than
from spectral_api.auth import AUTHENTICATION_REQUIRED, bearer_token, credential_refusal
from spectral_api.problems import problem
from spectral_api.routing_table import route_of_request

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
            with log_context(request_id=request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or metrics.UNMATCHED_ROUTE
            metrics.HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
            metrics.HTTP_DURATION.labels(route, scope["method"]).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                },
            )


# A route whose handler streams its body against a limit of its own names the setting here, in
# `openapi_extra` (it also tells API users which limit applies); every other body gets the JSON limit.
BODY_LIMIT_EXTENSION = "x-spectral-body-limit-setting"


# A body larger than this (or chunked, of unknown length) is read only once its credential has
# been verified; a smaller one is read first, as every request is, and the route verifies it.
VERIFIED_BODY_BYTES = 64 * 1024


def _requires_token(dependant: Dependant) -> bool:
    return any(dep.call is bearer_token or _requires_token(dep) for dep in dependant.dependencies)


def _takes_json_body(route: BaseRoute) -> bool:
    """A route whose body FastAPI parses as JSON into a model (not a form, not raw bytes)."""
    return (
        isinstance(route, APIRoute)
        and route.body_field is not None
        and not isinstance(route.body_field.field_info, params.Form)
    )


def json_body_refusal(content_type: str | None) -> str | None:
    """Why a body of this Content-Type is not JSON, or None when it is. FastAPI would otherwise
    validate the raw bytes and answer a 422 that names no Content-Type."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return None
    return f"Send the body as JSON (Content-Type: application/json), not {media_type or 'no type'}"


class BodyLimitMiddleware:
    """One bound on every request body, before the app reads it.

    A route that parses its body as JSON refuses a body of another type with a 415 (a form-encoded
    `curl -d` without `-H 'Content-Type: application/json'` is the usual one).

    A `Content-Length` over the limit is a 413 at once; a chunked body is counted as it streams in
    and the read that crosses the limit raises a 413, so the server never holds more than the limit.
    A body for a route that needs a token is read only from someone the token identifies: without
    `Authorization` it is a 401 at once, and when it is larger than `VERIFIED_BODY_BYTES` (or
    chunked) the credential is verified first (`credential_refusal`), so an unknown, expired or
    revoked token or key is a 401 before any of the body is read.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Per route: (needs a token, parses its body as JSON), worked out on its first request.
        self._facts: dict[int, tuple[bool, bool]] = {}

    def _route_facts(self, route: BaseRoute) -> tuple[bool, bool]:
        key = id(route)
        if key not in self._facts:
            needs_token = isinstance(route, APIRoute) and _requires_token(route.dependant)
            self._facts[key] = (needs_token, _takes_json_body(route))
        return self._facts[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        settings = scope["app"].state.spectral.settings
        route = route_of_request(scope)
        limit: int = settings.max_json_body_bytes
        if (
            isinstance(route, APIRoute)
            and route.openapi_extra
            and BODY_LIMIT_EXTENSION in route.openapi_extra
        ):
            limit = getattr(settings, route.openapi_extra[BODY_LIMIT_EXTENSION])
        needs_token, takes_json = self._route_facts(route) if route is not None else (False, False)
        if needs_token:
            refused: AuthenticationError | None = None
            if "authorization" not in headers:
                refused = AuthenticationError(AUTHENTICATION_REQUIRED)
            elif chunked or declared is None or not declared.isdigit() or int(declared) > VERIFIED_BODY_BYTES:
                refused = await credential_refusal(scope["app"].state.spectral, headers["authorization"])
            if refused is not None:
                response = problem(
                    Request(scope),
                    refused.status,
                    refused.detail,
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
        if takes_json:
            refusal = json_body_refusal(headers.get("content-type"))
            if refusal is not None:
                response = problem(Request(scope), 415, refusal, headers={"Connection": "close"})
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


# Cheap pre-check on the raw JSON text; only a body that matches is parsed here and walked for
# the exact values (a NUL escape, an integer past 64 bits, a float that overflows, NaN/Infinity).
_MAYBE_UNSTORABLE = re.compile(rb"\\u0000|\d{19}|[eE]\+?\d{3}|NaN|Infinity")
# A route whose decoder reads every value itself and deals with each one no column can store (OTLP:
# cleaned, or the span rejected and counted) says so here, in `openapi_extra`: its JSON bodies skip
# the walk. Every OTLP/JSON body matches the pre-check (19-digit nanosecond timestamps, "5e123" in
# hex ids), and the stdlib parse and walk of it cost more CPU than decoding and storing its spans.
DECODES_OWN_VALUES_EXTENSION = "x-spectral-decodes-own-values"
# A route that bounds the nesting of what it stores itself, value by value, and refuses only the
# offending part (span ingest rejects a too-deep span and stores the rest) says so here: its JSON
# bodies are not refused whole for their depth.
BOUNDS_OWN_NESTING_EXTENSION = "x-spectral-bounds-own-nesting"
_JSON_LINES_TYPES = ("application/jsonl", "application/x-ndjson", "application/json-lines")


def _too_deep(text: bytes) -> bool:
    if text.count(b"[") + text.count(b"{") <= MAX_REQUEST_JSON_DEPTH:
        return False
    return nests_deeper_than(text.decode("utf-8", "replace"), MAX_REQUEST_JSON_DEPTH)


def _refused_json(body: bytes, content_type: str, *, bound_depth: bool) -> list[dict[str, Any]]:
    """What in a JSON (or JSON lines) body no column can store, or nests deeper than any stored
    value may (`MAX_REQUEST_JSON_DEPTH`), one error per location."""
    documents: list[tuple[Loc, bytes]]
    if content_type.startswith(_JSON_LINES_TYPES):
        documents = [(("body", number), line) for number, line in enumerate(body.splitlines(), 1)]
    else:
        documents = [(("body",), body)]
    errors: list[dict[str, Any]] = []
    for loc, text in documents:
        if bound_depth and _too_deep(text):
            errors.append(
                {
                    "loc": list(loc),
                    "msg": f"JSON nests deeper than {MAX_REQUEST_JSON_DEPTH} arrays/objects",
                    "type": "json_too_deep",
                }
            )
            continue
        if not _MAYBE_UNSTORABLE.search(text):
            continue
        try:
            errors.extend(unstorable_values(json.loads(text), loc))
        except (ValueError, RecursionError):
            # Not JSON at all, or (where a route bounds its own nesting) nested past what a parser
            # follows: the route reports that in its own words (a 400 or 422 problem).
            continue
    return errors


class InputCheckMiddleware:
    """Values no column can store never reach a handler: NUL in the path, in a query parameter or
    anywhere in a JSON body, integers past 64 bits and non-finite numbers in a JSON body, and a
    JSON body nested deeper than `MAX_REQUEST_JSON_DEPTH` are a 422 problem naming each location.
    A body with a `Content-Encoding` (other than identity) is a 415, except on a route that
    decodes its own body (OTLP). Runs inside `BodyLimitMiddleware`, so what it buffers is bounded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors: list[dict[str, Any]] = []
        if NUL in scope["path"]:
            errors.append(
                {"loc": ["path"], "msg": "The path must not contain NUL characters", "type": "string_nul"}
            )
        query = scope.get("query_string", b"").decode("latin-1")
        if "%00" in query or NUL in query:
            errors.extend(
                {
                    "loc": ["query", key.replace(NUL, "\\u0000")],
                    "msg": "Text must not contain NUL (\\u0000) characters",
                    "type": "string_nul",
                }
                for key, value in parse_qsl(query, keep_blank_values=True)
                if NUL in key or NUL in value
            )
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "").lower()
        has_body = _has_body(headers)
        # Looked up only for a body: requests without one (the hot GETs) skip the routing table.
        extensions = _route_extensions(scope) if has_body else {}
        decodes_own = bool(extensions.get(DECODES_OWN_VALUES_EXTENSION))
        encoding = headers.get("content-encoding", "").strip().lower()
        if not decodes_own and encoding not in ("", "identity") and has_body:
            # Only OTLP inflates a body. Elsewhere the app would read the bytes as they came: a
            # compressed body as garbage, and a plain one labelled gzip past every check above.
            response = problem(
                Request(scope),
                415,
                f"Content-Encoding {encoding!r} is not supported here; send the body uncompressed",
            )
            await response(scope, receive, send)
            return
        if not errors and has_body and "json" in content_type and not decodes_own:
            try:
                body, receive = await _buffered(receive)
            except HTTPException as exc:
                await problem(Request(scope), exc.status_code, str(exc.detail))(scope, receive, send)
                return
            errors = _refused_json(
                body, content_type, bound_depth=not extensions.get(BOUNDS_OWN_NESTING_EXTENSION)
            )
        if errors:
            response = problem(
                Request(scope), 422, "The request contains values that cannot be stored", errors=errors
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_body(headers: Headers) -> bool:
    """Whether the request carries a body (chunked, or a Content-Length other than 0)."""
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    return chunked or headers.get("content-length") not in (None, "0")


def _route_extensions(scope: Scope) -> dict[str, Any]:
    route = route_of_request(scope)
    return (route.openapi_extra or {}) if isinstance(route, APIRoute) else {}


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (bounded by the body limit) and a `receive` that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
