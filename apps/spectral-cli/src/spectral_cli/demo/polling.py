"""How a well-behaved client waits on Spectral: back off between polls and honour `Retry-After`
on 429 and 503. The demo and every test that polls use these two functions, so none of them
depends on the machine's speed or on the API's default rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from spectral_cli.client import RETRY_STATUSES, retry_after_seconds

T = TypeVar("T")


async def request_with_backoff(
    client: httpx.AsyncClient, method: str, url: str, *, attempts: int = 8, **kwargs: Any
) -> httpx.Response:
    """One request; a 429 or 503 is retried after the server's Retry-After (doubling without one)."""
    delay = 0.5
    for _ in range(attempts - 1):
        response = await client.request(method, url, **kwargs)
        if response.status_code not in RETRY_STATUSES:
            return response
        await asyncio.sleep(retry_after_seconds(response, delay))
        delay = min(delay * 2, 30.0)
    return await client.request(method, url, **kwargs)


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout_s: float = 900.0,
    first_delay_s: float = 0.1,
    max_delay_s: float = 2.0,
    describe: Callable[[T], str] = repr,
) -> T:
    """Call `fetch` until `done(value)`, waiting longer between calls (up to `max_delay_s`). The
    timeout only guards against a hang; it is generous because a busy machine is no failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    delay = first_delay_s
    while not done(value := await fetch()):
        if loop.time() >= deadline:
            raise TimeoutError(f"still waiting after {timeout_s:.0f}s: {describe(value)}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, max_delay_s)
    return value
