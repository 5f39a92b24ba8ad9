"""RFC 9457 problem documents: every error the API returns is shaped here, in one place."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from spectral.platform.shared.errors import (
    ERROR_TYPE_BASE,
    AuthenticationError,
    DomainError,
    RateLimitedError,
    ServiceUnavailableError,
)
from spectral_api.routing_table import most_specific, routes_at

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("spectral.api")

_HTTP_SLUGS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad Request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Resource Not Found"),
    405: ("method-not-allowed", "Method Not Allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload Too Large"),
    415: ("unsupported-media-type", "Unsupported Media Type"),
    422: ("validation-error", "Validation Error"),
    429: ("rate-limited", "Too Many Requests"),
    500: ("internal-error", "Internal Server Error"),
    503: ("service-unavailable", "Service Unavailable"),
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    default_slug, default_title = _HTTP_SLUGS.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": ERROR_TYPE_BASE + (slug or default_slug),
        "title": title or default_title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return ProblemResponse(body, status_code=status, headers=headers)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or request.headers.get("x-request-id", ""))


async def _domain_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, DomainError)
    headers = None
    if isinstance(exc, RateLimitedError | ServiceUnavailableError):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, AuthenticationError):
        # RFC 6750: a 401 names the scheme the client should authenticate with.
        headers = {"WWW-Authenticate": 'Bearer realm="spectral"'}
    return problem(
        request, exc.status, exc.detail, slug=exc.slug, title=exc.title, headers=headers, **exc.extra
    )


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. A fixed path (`rubrics/generate`) outranks a
    path with parameters that merely matches it (`rubrics/{rubric_id}`): it is the resource meant."""
    methods = {
        method
        for served in most_specific(routes_at(request.app, request.url.path))
        for method in served.methods
    }
    if "GET" not in methods:
        methods.discard("HEAD")
    return sorted(methods, key=lambda m: (_METHOD_ORDER.index(m) if m in _METHOD_ORDER else 99, m))


def _method_not_allowed(request: Request, allowed: list[str]) -> ProblemResponse:
    return problem(
        request,
        405,
        f"{request.method} is not allowed on {request.url.path}",
        headers={"Allow": ", ".join(allowed)},
    )


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return _method_not_allowed(request, _allowed_methods(request))
    if exc.status_code == 404:
        detail = exc.detail if exc.detail != "Not Found" else f"No route matches {request.url.path}"
    else:
        detail = str(exc.detail)
    return problem(request, exc.status_code, detail, headers=dict(exc.headers or {}) or None)


def _json_safe(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    if any(tuple(err.get("loc", ()))[:1] == ("path",) for err in exc.errors()):
        # A wrong method on a fixed path (`GET rubrics/generate`) reached a route with a path
        # parameter (`GET rubrics/{rubric_id}`); the resource exists, the method does not: 405.
        allowed = _allowed_methods(request)
        if allowed and request.method not in allowed:
            return _method_not_allowed(request, allowed)
    errors = [
        {
            "loc": _json_safe(list(err.get("loc", ()))),
            "msg": _validation_message(err),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    malformed = any(err["type"] == "json_invalid" for err in errors)
    detail = "The request body is not valid JSON" if malformed else "The request did not validate"
    return problem(request, 422, detail, errors=errors)


def _validation_message(err: Mapping[str, Any]) -> str:
    """Pydantic's message; for a body that is not JSON, what the parser tripped on (its `loc`
    holds the character's position), not only "JSON decode error"."""
    reason = (err.get("ctx") or {}).get("error")
    if err.get("type") == "json_invalid" and reason:
        return f"JSON decode error: {reason}"
    return str(err.get("msg", ""))


async def _data_error(request: Request, exc: Exception) -> ProblemResponse:
    """The safety net behind the edge checks: a value the database refuses (out of range, bad
    encoding) is the client's input, so a 422; the driver's message and the SQL stay in the log."""
    log.warning(
        "database refused a value",
        extra={
            "request_id": _request_id(request),
            "path": request.url.path,
            "error": str(getattr(exc, "orig", exc)),
        },
    )
    return problem(
        request,
        422,
        "A value in the request cannot be stored",
        errors=[{"loc": [], "msg": "value out of range or not storable", "type": "value_error"}],
    )


async def _database_unavailable(request: Request, exc: Exception) -> ProblemResponse:
    """A database connection lost mid-request (the server restarted, a proxy cut it while it sat
    in the pool: connections are not pinged at checkout). SQLAlchemy has already discarded every
    connection as old as it, so a retry gets a fresh one; anything else is a plain 500."""
    if not (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return await _unhandled(request, exc)
    log.warning(
        "database connection lost", extra={"request_id": _request_id(request), "path": request.url.path}
    )
    return await _domain_error(
        request, ServiceUnavailableError("The database connection was lost; retry the request", retry_after=1)
    )


async def _unhandled(request: Request, exc: Exception) -> ProblemResponse:
    request_id = _request_id(request)
    log.error(
        "unhandled error",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"request_id": request_id, "path": request.url.path, "method": request.method},
    )
    return problem(
        request,
        500,
        "An unexpected error occurred; quote the request id when reporting it",
        # 500s are answered outside the request-id middleware, so the header is set here.
        headers={"X-Request-Id": request_id},
        request_id=request_id,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(Exception, _unhandled)


PROBLEM_SCHEMA = {
    "content": {
        PROBLEM_MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "instance": {"type": "string"},
                },
            }
        }
    }
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problem documents it can return, listed in OpenAPI."""
    return {status: {"description": _HTTP_SLUGS[status][1], **PROBLEM_SCHEMA} for status in statuses}


# --- the contract: every error the server really sends, declared ----------------------------------

_PROBLEM_COMPONENT = {
    "type": "object",
    "description": "RFC 9457 Problem Details",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string", "description": "500 only: quote it when reporting"},
        "errors": {
            "type": "array",
            "description": "422 only: every validation error",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_NO_NUL = "^[^\\x00]*$"
_INT64 = (-(2**63), 2**63 - 1)
_WORKSPACE_HEADER = {
    "name": "X-Workspace-Id",
    "in": "header",
    "required": False,
    "description": "When sent, must name the workspace of the path (else 400)",
    "schema": {"type": "string", "format": "uuid"},
}
_OTLP_WORKSPACE_HEADER = {
    **_WORKSPACE_HEADER,
    "description": "With a user token: the workspace to ingest into (required then). With an API key: "
    "must name the key's workspace (else 403)",
}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _HTTP_SLUGS.get(status, ("error", "Error"))[1],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
    }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        }
    return response


def _storable(schema: Any) -> None:
    """What the edge refuses is stated in the schema: text without NUL, integers within 64 bits."""
    if isinstance(schema, list):
        for item in schema:
            _storable(item)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind == "string" and not {"format", "pattern", "enum", "const"} & schema.keys():
        schema["pattern"] = _NO_NUL
    elif kind == "integer":
        # FastAPI's OpenAPI model holds bounds as floats, and 2**63 - 1 as a float is 2**63: the
        # document would allow integers the server refuses. Bounds are stated as exact integers.
        for key, default in (("minimum", _INT64[0]), ("maximum", _INT64[1])):
            schema[key] = max(_INT64[0], min(_INT64[1], int(schema.get(key, default))))
    elif kind == "object" and schema.get("additionalProperties") not in (None, False):
        schema.setdefault("propertyNames", {"pattern": _NO_NUL})
    for key, value in schema.items():
        if key != "example" and key != "examples" and key != "default":
            _storable(value)


def complete_contract(openapi: dict[str, Any]) -> dict[str, Any]:
    """Declare in the OpenAPI document what every operation can really answer: each error as a
    problem document, the 422 included; 400 for unreadable input, 401/403/429 where a token is
    needed, 404 where the path names a resource, 413 and 415 for bodies; X-Workspace-Id where it is
    read."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    _storable(schemas)
    # After `_storable`: a problem's `loc` echoes what the client sent, NUL and big numbers included.
    schemas["Problem"] = _PROBLEM_COMPONENT
    for path, item in openapi.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            _storable(operation.get("parameters", []))
            _storable(operation.get("requestBody", {}))
            statuses = {400, 422}
            if operation.get("security"):
                statuses |= {401, 403, 429}
            reads_workspace_header = "{workspace_id}" in path or path.startswith("/otel/")
            if "{" in path or reads_workspace_header:
                statuses.add(404)
            if "requestBody" in operation:
                # 415: a Content-Encoding the route does not decode (input check middleware), or
                # another Content-Type than the JSON the route parses.
                statuses |= {413, 415}
            responses = operation.setdefault("responses", {})
            for code in list(responses):
                if code.isdigit() and int(code) >= 400:
                    statuses.add(int(code))
            for status in sorted(statuses):
                declared = responses.get(str(status), {})
                responses[str(status)] = {
                    **_problem_response(status),
                    **{k: v for k, v in declared.items() if k == "description"},
                }
            if reads_workspace_header:
                header = _OTLP_WORKSPACE_HEADER if path.startswith("/otel/") else _WORKSPACE_HEADER
                parameters = operation.setdefault("parameters", [])
                if not any(
                    p.get("in") == "header" and p.get("name", "").lower() == "x-workspace-id"
                    for p in parameters
                ):
                    parameters.append(header)
    return openapi
