"""RFC 9457 problem documents: every error the API returns is shaped here, in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from spectral.platform.shared.errors import (
    ERROR_TYPE_BASE,
    AuthenticationError,
    DomainError,
    RateLimitedError,
    ServiceUnavailableError,
)

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


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        detail = exc.detail if exc.detail != "Not Found" else f"No route matches {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
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
    errors = [
        {
            "loc": _json_safe(list(err.get("loc", ()))),
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    malformed = any(err["type"] == "json_invalid" for err in errors)
    detail = "The request body is not valid JSON" if malformed else "The request did not validate"
    return problem(request, 422, detail, errors=errors)


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
