"""The engine's `ScanHooks`, backed by the scan's rows: events, progress + heartbeat, per-phase
outputs (and their durations, in the metrics) and cancellation. Each write is its own short
transaction, so a watcher sees progress while the scan runs, and nothing of it is lost if the
worker dies later."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import Mapping
from typing import Any

from spectral.engine.types import EventLevel, ScanPhase
from spectral.platform.scans import repository
from spectral.platform.shared import metrics
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database

log = logging.getLogger("spectral.scans")

HEARTBEAT_INTERVAL_S = 10.0
# Progress writes are throttled; a heartbeat task covers the gaps.
_PROGRESS_EVERY_S = 1.0


def _json_safe(data: Mapping[str, Any]) -> dict[str, Any]:
    """Event data as the JSON the API will serve (NaN and infinities become null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    cleaned: dict[str, Any] = clean(data)
    return json.loads(json.dumps(cleaned, default=str))


class DbScanHooks:
    def __init__(self, db: Database, scan_id: uuid.UUID) -> None:
        self._db = db
        self._scan_id = scan_id
        self._last_progress = 0.0
        self._phase: ScanPhase | None = None
        # Phases run one after the other: each starts when the one before it gave its output.
        self._phase_started = time.perf_counter()

    async def event(self, phase: ScanPhase, level: EventLevel, message: str, data: Mapping[str, Any]) -> None:
        async with self._db.session() as session:
            await repository.add_event(
                session,
                self._scan_id,
                phase=phase.value,
                level=level.value,
                message=message,
                data=_json_safe(data),
            )
        log.info("scan event", extra={"scan_id": str(self._scan_id), "phase": phase.value, "event": message})
        await self.progress(phase, None)

    async def progress(self, phase: ScanPhase, fraction: float | None) -> None:
        now = time.monotonic()
        if phase == self._phase and now - self._last_progress < _PROGRESS_EVERY_S:
            return
        # A late event of an earlier phase (a budget note from the experiment while validating) does
        # not move the scan's phase back.
        later = self._phase is None or _PHASES.index(phase) >= _PHASES.index(self._phase)
        if later:
            self._phase = phase
        self._last_progress = now
        async with self._db.session() as session:
            await repository.touch_scan(
                session,
                self._scan_id,
                utcnow(),
                phase=phase.value if later else None,
                progress=None if fraction is None or not later else _overall(phase, fraction),
            )

    async def phase_output(self, phase: ScanPhase, payload: Mapping[str, Any]) -> None:
        """Persist the phase's output, and mark the phase done in the event log with its figures
        (the scalar ones: lists such as clusters or candidates stay in the phase output)."""
        finished = time.perf_counter()
        metrics.SCAN_PHASE_DURATION.labels(phase.value).observe(finished - self._phase_started)
        self._phase_started = finished
        figures = {k: v for k, v in payload.items() if isinstance(v, str | int | float | bool) or v is None}
        async with self._db.session() as session:
            await repository.save_phase_output(session, self._scan_id, phase.value, _json_safe(payload))
            await repository.add_event(
                session,
                self._scan_id,
                phase=phase.value,
                level=EventLevel.INFO.value,
                message=f"{phase.value} finished",
                data=_json_safe(figures),
            )
        await self.progress(phase, 1.0)

    async def cancelled(self) -> bool:
        async with self._db.session() as session:
            return await repository.cancel_requested(session, self._scan_id)

    async def heartbeat_forever(self) -> None:
        """Keeps `heartbeat_at` fresh while the engine thread works; the reaper watches it."""
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            try:
                async with self._db.session() as session:
                    await repository.touch_scan(session, self._scan_id, utcnow(), phase=None, progress=None)
            except Exception:
                log.warning("heartbeat failed", exc_info=True, extra={"scan_id": str(self._scan_id)})


_PHASES = list(ScanPhase)


def _overall(phase: ScanPhase, fraction: float) -> float:
    """A phase's own progress as a share of the whole scan (seven equal steps)."""
    index = _PHASES.index(phase)
    return round(min(1.0, (index + max(0.0, min(1.0, fraction))) / len(_PHASES)), 4)
