"""Real HTTP servers on loopback for tests: a uvicorn server running an ASGI app in a thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

from processes import free_port


@contextmanager
def serve_in_thread(
    app: Any,
    *,
    after: Callable[[], Awaitable[None]] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    lifespan: Literal["on", "off"] = "off",
    **options: Any,
) -> Iterator[str]:
    """Serve `app` on `host` (a loopback address) at `port` (a free one by default); yields the
    base URL. With `lifespan="on"` the app builds its own state (database, queue) on the
    server's event loop, as in production. `after()` runs on the server's loop once it stopped serving (e.g. to dispose of a
    database engine used only from that loop). `options` go to uvicorn (e.g. `ssl_certfile`)."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan=lifespan, **options)
    )

    async def serve_then_clean_up() -> None:
        try:
            await server.serve()
        finally:
            if after is not None:
                await after()

    thread = threading.Thread(
        target=asyncio.run, args=(serve_then_clean_up(),), name=f"uvicorn:{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if 'ssl_certfile' in options else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
