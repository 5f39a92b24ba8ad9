"""Load shedding for the write path: a bounded number of concurrent trace writes per process.

A request past the bound waits briefly for a slot and is then refused with 503 + Retry-After, which
OTLP exporters treat as retryable; queueing without bound would only turn overload into timeouts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from spectral.platform.shared import metrics
from spectral.platform.shared.errors import ServiceUnavailableError

RETRY_AFTER_SECONDS = 1


class IngestGate:
    def __init__(self, capacity: int, *, wait_seconds: float) -> None:
        self.capacity = capacity
        self._wait_seconds = wait_seconds
        self._semaphore = asyncio.Semaphore(capacity)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self._wait_seconds)
        except TimeoutError:
            metrics.INGEST_SHED.inc()
            raise ServiceUnavailableError(
                f"The trace write path is saturated ({self.capacity} writes in progress); retry later",
                retry_after=RETRY_AFTER_SECONDS,
            ) from None
        metrics.INGEST_WRITE_WAIT.observe(time.perf_counter() - started)
        try:
            yield
        finally:
            self._semaphore.release()
