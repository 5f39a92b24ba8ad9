"""The gauges a `/metrics` scrape reads rather than counts: the queue depth, and each model's
circuit state as its ledger implies (the same in every process, and it turns half-open with time,
not with an event). Every process that serves `/metrics` reads them here before it answers.

A read that fails (Redis or the database down) must not fail the scrape, which is most wanted
then: the queue depth becomes NaN and the circuit series are left out, never stale values."""

from __future__ import annotations

import logging
import math

from spectral.platform.models.service import circuit_states
from spectral.platform.shared import metrics
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import JobQueue
from spectral.platform.shared.settings import Settings

log = logging.getLogger("spectral.metrics")


async def read_gauges(db: Database, queue: JobQueue, settings: Settings) -> None:
    try:
        metrics.QUEUE_DEPTH.set(await queue.depth())
    except Exception:
        log.warning("queue depth unavailable for /metrics", exc_info=True)
        metrics.QUEUE_DEPTH.set(math.nan)
    metrics.CIRCUIT_STATE.clear()
    try:
        async with db.session(writes=False) as session:
            states = await circuit_states(session, settings)
    except Exception:
        log.warning("circuit states unavailable for /metrics", exc_info=True)
        return
    for (provider, model), state in states.items():
        metrics.CIRCUIT_STATE.labels(provider, model).set(metrics.CIRCUIT_LEVELS[state.value])
