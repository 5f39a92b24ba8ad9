"""Maintenance of the span store: partitions of `spans` created ahead (PostgreSQL)."""

from __future__ import annotations

from datetime import date
from typing import Any

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.traces.partitions import ensure_span_partitions


async def maintain_span_partitions(ctx: dict[str, Any]) -> list[date]:
    """Hourly and at worker start-up: today's partition and the next week's exist (idempotent;
    a no-op on SQLite). The days created."""
    db: Database = ctx["db"]
    async with db.session() as session:
        return await ensure_span_partitions(session, utcnow().date())
