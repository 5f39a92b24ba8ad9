"""Run the engine's CPU-bound scan on a thread of its own, with all I/O kept on the caller's loop.

Scoring and clustering 100k traces takes tens of seconds of pure Python. Run on the worker's (or,
embedded, the API's) event loop, that would stall heartbeats, HTTP replays and every request.
So the engine runs in a thread with its own event loop, and everything it awaits that does I/O
(the runner, judge, generator, hooks) is a proxy that executes the real coroutine on the
caller's loop, where the database engine and HTTP clients live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, overload

T = TypeVar("T")


class OnLoop:
    """Proxy whose async methods run on `loop`; awaiting them from another loop is safe."""

    def __init__(self, target: object, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        async def call_on_loop(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if not asyncio.iscoroutine(result):
                return result
            future = asyncio.run_coroutine_threadsafe(result, self._loop)
            return await asyncio.wrap_future(future)

        return call_on_loop


@overload
def bridged(target: None, loop: asyncio.AbstractEventLoop) -> None: ...


@overload
def bridged(target: T, loop: asyncio.AbstractEventLoop) -> T: ...


def bridged(target: T | None, loop: asyncio.AbstractEventLoop) -> T | None:
    """`target` seen from the engine's thread (None stays None: an absent provider is absent)."""
    return None if target is None else OnLoop(target, loop)  # type: ignore[return-value]


async def run_on_engine_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine `make()` to completion on a fresh event loop in a worker thread."""
    return await asyncio.to_thread(asyncio.run, make())
