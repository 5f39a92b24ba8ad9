"""The CLI's HTTP client backs off on 429 and 503 as the server says (`Retry-After` in seconds or
as an HTTP date), and gives up with the server's problem after a bounded number of attempts.
The server is a real one on loopback that sheds load the way Spectral's ingest does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from servers import serve_in_thread
from spectral_cli.client import MAX_ATTEMPTS, Client
from spectral_cli.errors import ApiError, ExitCode

PROBLEM = {"type": "https://spectral.dev/errors/rate-limited", "title": "Too Many Requests", "status": 429}


def shedding_app(refusals: list[tuple[int, str]]) -> tuple[Starlette, list[str]]:
    """Answers each queued (status, Retry-After) in turn, then 200."""
    seen: list[str] = []

    async def endpoint(request: Request) -> JSONResponse:
        seen.append(request.method)
        if refusals:
            status, retry_after = refusals.pop(0)
            return JSONResponse(
                PROBLEM | {"status": status}, status_code=status, headers={"Retry-After": retry_after}
            )
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/thing", endpoint, methods=["GET", "POST"])]), seen


def test_waits_as_told_then_succeeds() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    app, seen = shedding_app([(429, "2"), (503, soon), (503, "not a number or a date")])
    waits: list[float] = []
    with serve_in_thread(app) as url:
        client = Client(url, "token", sleep=waits.append)
        assert client.post("/thing", {"a": 1}) == {"ok": True}
    assert seen == ["POST"] * 4
    assert waits[0] == 2.0
    assert 0 < waits[1] <= 30
    assert waits[2] == 2.0  # no usable Retry-After: exponential backoff, third attempt


def test_gives_up_with_the_problem() -> None:
    app, seen = shedding_app([(429, "1")] * (MAX_ATTEMPTS + 2))
    waits: list[float] = []
    with serve_in_thread(app) as url, pytest.raises(ApiError) as raised:
        Client(url, None, sleep=waits.append).get("/thing")
    assert len(seen) == MAX_ATTEMPTS
    assert waits == [1.0] * (MAX_ATTEMPTS - 1)
    assert raised.value.status == 429
    assert raised.value.code == ExitCode.API_ERROR
    assert raised.value.message.startswith("429 Too Many Requests")
