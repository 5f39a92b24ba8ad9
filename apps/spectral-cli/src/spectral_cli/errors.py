"""Exit codes scripts can rely on, and the errors that carry them."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    API_ERROR = 1  # the server refused the request (4xx other than 401/403), or rejected some data
    USAGE = 2  # bad command line or unreadable local input
    SERVER = 3  # the server failed (5xx) or could not be reached
    AUTH = 4  # not logged in, token expired or revoked (401), or missing a scope (403)
    SCAN_FAILED = 5  # a watched scan ended failed or cancelled


class CliError(Exception):
    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ApiError(CliError):
    """A problem+json (RFC 9457) answer, or any non-2xx, as one line."""

    def __init__(
        self, status: int, method: str, path: str, problem: dict[str, Any], *, hint: str | None = None
    ) -> None:
        self.status = status
        self.problem = problem
        if status in (401, 403):
            code = ExitCode.AUTH
        elif status >= 500:
            code = ExitCode.SERVER
        else:
            code = ExitCode.API_ERROR
        super().__init__(problem_line(status, method, path, problem, hint=hint), code)


def problem_line(
    status: int, method: str, path: str, problem: dict[str, Any], *, hint: str | None = None
) -> str:
    """`422 Validation Failed: body.password: String should have at least 10 characters (POST /api/v1/auth/register)`"""
    title = problem.get("title") or "Error"
    detail = problem.get("detail")
    parts = [f"{status} {title}"]
    errors = problem.get("errors") or []
    if errors:
        shown = [
            f"{'.'.join(str(p) for p in error.get('loc', []))}: {error.get('msg', '')}".lstrip(": ")
            for error in errors[:3]
        ]
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        parts.append("; ".join(shown) + more)
    elif detail:
        parts.append(str(detail))
    line = ": ".join(parts) + f" ({method} {path})"
    if hint:
        line += f" — {hint}"
    if problem.get("request_id"):
        line += f" [request {problem['request_id']}]"
    return line
