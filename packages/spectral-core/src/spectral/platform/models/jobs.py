"""Model gateway maintenance: cached answers live `SPECTRAL_LLM_CACHE_DAYS`, then go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from spectral.platform.models import repository
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings


async def prune_model_cache(ctx: dict[str, Any]) -> int:
    """Hourly: delete cached answers past their lifetime (lookups ignore them already)."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    async with db.session() as session:
        return await repository.prune_responses(session, utcnow() - timedelta(days=settings.llm_cache_days))
