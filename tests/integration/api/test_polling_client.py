"""Issue 10 item 12: the one polling helper of the tests and the demo honours Retry-After."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from servers import serve_in_thread
from spectral_cli.demo.polling import poll_until, request_with_backoff


def _limited_app(refusals: int) -> tuple[Starlette, list[str]]:
    calls: list[str] = []

    async def endpoint(request: Request) -> JSONResponse:
        calls.append(request.url.path)
        if len(calls) <= refusals:
            return JSONResponse({"status": 429}, status_code=429, headers={"Retry-After": "1"})
        return JSONResponse({"calls": len(calls)})

    return Starlette(routes=[Route("/thing", endpoint)]), calls


async def test_a_429_is_retried_after_the_servers_retry_after() -> None:
    app, calls = _limited_app(refusals=2)
    with serve_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            response = await request_with_backoff(client, "GET", "/thing")
    assert response.status_code == 200
    assert response.json() == {"calls": 3}
    assert len(calls) == 3


async def test_the_last_refusal_is_returned_when_attempts_run_out() -> None:
    app, calls = _limited_app(refusals=10)
    with serve_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            response = await request_with_backoff(client, "GET", "/thing", attempts=2)
    assert response.status_code == 429
    assert len(calls) == 2


async def test_poll_until_returns_the_first_done_value() -> None:
    values = iter(range(10))

    async def fetch() -> int:
        return next(values)

    assert await poll_until(fetch, lambda v: v >= 3, first_delay_s=0.0) == 3


async def test_poll_until_gives_up_only_at_its_timeout() -> None:
    async def fetch() -> str:
        return "queued"

    with pytest.raises(TimeoutError, match="queued"):
        await poll_until(fetch, lambda v: v == "done", timeout_s=0.0)
