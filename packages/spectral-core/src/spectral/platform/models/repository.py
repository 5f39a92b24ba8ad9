"""All SQL of the model gateway. Ledger and cache reads are filtered by workspace; model configs
and model health are platform-wide (operations staff only)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.models.models import CallStatus, ModelCall, ModelConfig, ModelResponse
from spectral.platform.models.schemas import ModelCostRead, ScanModelCostRead
from spectral.platform.shared.clock import as_utc
from spectral.platform.shared.errors import NotFoundError
from spectral.platform.shared.pagination import PageParams

# Calls that asked the provider or the cache for an answer (refusals asked nobody).
_ANSWERED = (CallStatus.OK.value, CallStatus.ERROR.value, CallStatus.CACHED.value)


# --- model configs ---------------------------------------------------------------------------


async def all_configs(session: AsyncSession) -> Sequence[ModelConfig]:
    return (await session.exec(select(ModelConfig).order_by(col(ModelConfig.model)))).all()


async def find_config(session: AsyncSession, model: str) -> ModelConfig | None:
    return (await session.exec(select(ModelConfig).where(ModelConfig.model == model))).first()


async def get_config(session: AsyncSession, model: str) -> ModelConfig:
    config = await find_config(session, model)
    if config is None:
        raise NotFoundError(f"Model config {model} not found")
    return config


async def list_configs(session: AsyncSession, page: PageParams) -> tuple[Sequence[ModelConfig], int]:
    total = (await session.exec(select(func.count()).select_from(ModelConfig))).one()
    rows = (
        await session.exec(
            select(ModelConfig).order_by(col(ModelConfig.model)).limit(page.limit).offset(page.offset)
        )
    ).all()
    return rows, total


# --- ledger and cache ------------------------------------------------------------------------


async def add_call(session: AsyncSession, call: ModelCall) -> None:
    session.add(call)
    await session.flush()


async def cached_response(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    model: str,
    prompt_hash: str,
    params_hash: str,
    *,
    newer_than: datetime,
) -> ModelResponse | None:
    statement = select(ModelResponse).where(
        ModelResponse.workspace_id == workspace_id,
        ModelResponse.model == model,
        ModelResponse.prompt_hash == prompt_hash,
        ModelResponse.params_hash == params_hash,
        col(ModelResponse.created_at) >= newer_than,
    )
    return (await session.exec(statement)).first()


async def prune_responses(session: AsyncSession, older_than: datetime) -> int:
    """Forget cached answers older than the cache's lifetime (every workspace: a maintenance job)."""
    result = await session.exec(sa.delete(ModelResponse).where(col(ModelResponse.created_at) < older_than))
    return int(result.rowcount or 0)


async def store_response(session: AsyncSession, response: ModelResponse) -> None:
    """Store an answer under its key, replacing an expired one; when two identical calls raced,
    the later write wins (both paid, either answer is valid)."""
    values = response.model_dump()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ModelResponse).values(**values)
    fresh = {
        key: statement.excluded[key]
        for key in ("output", "finish_reason", "input_tokens", "output_tokens", "created_at")
    }
    await session.exec(
        statement.on_conflict_do_update(
            index_elements=["workspace_id", "model", "prompt_hash", "params_hash"], set_=fresh
        )
    )


async def scan_spend(session: AsyncSession, workspace_id: uuid.UUID, scan_id: uuid.UUID) -> float:
    statement = select(func.coalesce(func.sum(ModelCall.cost_usd), 0.0)).where(
        ModelCall.workspace_id == workspace_id, ModelCall.scan_id == scan_id
    )
    return float((await session.exec(statement)).one())


async def cost_by_model(
    session: AsyncSession, workspace_id: uuid.UUID, scan_id: uuid.UUID
) -> ScanModelCostRead:
    """A scan's model spending from the ledger, per model and in total."""
    statement = (
        sa.select(
            col(ModelCall.model),
            func.count(),
            func.sum(sa.case((col(ModelCall.status) == CallStatus.CACHED.value, 1), else_=0)),
            func.sum(sa.case((col(ModelCall.status) == CallStatus.ERROR.value, 1), else_=0)),
            func.sum(ModelCall.input_tokens),
            func.sum(ModelCall.output_tokens),
            func.sum(ModelCall.cost_usd),
        )
        .where(
            col(ModelCall.workspace_id) == workspace_id,
            col(ModelCall.scan_id) == scan_id,
            col(ModelCall.status).in_(_ANSWERED),
        )
        .group_by(col(ModelCall.model))
        .order_by(col(ModelCall.model))
    )
    # Through the connection: sqlmodel's typed `exec` has no overload for a seven-column select.
    rows = (await (await session.connection()).execute(statement)).all()
    models = [
        ModelCostRead(
            model=model,
            calls=int(calls),
            cached_calls=int(cached),
            failed_calls=int(failed),
            input_tokens=int(tokens_in),
            output_tokens=int(tokens_out),
            cost_usd=round(float(cost), 6),
        )
        for model, calls, cached, failed, tokens_in, tokens_out, cost in rows
    ]
    return ScanModelCostRead(
        scan_id=scan_id,
        models=models,
        total_calls=sum(m.calls for m in models),
        total_input_tokens=sum(m.input_tokens for m in models),
        total_output_tokens=sum(m.output_tokens for m in models),
        total_cost_usd=round(sum(m.cost_usd for m in models), 6),
    )


# --- health ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallCounts:
    provider: str
    model: str
    succeeded: int
    errors: int
    cached: int
    refused: int

    @property
    def calls(self) -> int:
        return self.succeeded + self.errors + self.cached + self.refused


def _in_workspace(workspace_id: uuid.UUID | None) -> list[Any]:
    """No filter for the operators' view of every tenant; one workspace's calls for a tenant's."""
    return [] if workspace_id is None else [col(ModelCall.workspace_id) == workspace_id]


async def call_counts(
    session: AsyncSession, since: datetime, *, workspace_id: uuid.UUID | None = None
) -> list[CallCounts]:
    statement = (
        select(col(ModelCall.provider), col(ModelCall.model), col(ModelCall.status), func.count())
        .where(col(ModelCall.created_at) >= since, *_in_workspace(workspace_id))
        .group_by(col(ModelCall.provider), col(ModelCall.model), col(ModelCall.status))
    )
    by_status: dict[tuple[str, str], dict[str, int]] = {}
    for provider, model, status, n in (await session.exec(statement)).all():
        by_status.setdefault((provider, model), {})[status] = int(n)
    return [
        CallCounts(
            provider,
            model,
            succeeded=counts.get(CallStatus.OK.value, 0),
            errors=counts.get(CallStatus.ERROR.value, 0),
            cached=counts.get(CallStatus.CACHED.value, 0),
            refused=counts.get(CallStatus.CIRCUIT_OPEN.value, 0),
        )
        for (provider, model), counts in sorted(by_status.items())
    ]


async def models_called(session: AsyncSession, since: datetime) -> list[tuple[str, str]]:
    """The (provider, model) pairs with a call that reached the provider since `since`."""
    statement = (
        select(ModelCall.provider, ModelCall.model)
        .where(
            col(ModelCall.created_at) >= since,
            col(ModelCall.status).in_((CallStatus.OK.value, CallStatus.ERROR.value)),
        )
        .distinct()
        .order_by(ModelCall.provider, ModelCall.model)
    )
    return [(provider, model) for provider, model in (await session.exec(statement)).all()]


async def ok_latencies(
    session: AsyncSession, since: datetime, *, workspace_id: uuid.UUID | None = None
) -> dict[tuple[str, str], list[int]]:
    """Latencies of successful calls per (provider, model), for percentiles both databases agree on."""
    statement = select(ModelCall.provider, ModelCall.model, ModelCall.latency_ms).where(
        col(ModelCall.created_at) >= since,
        ModelCall.status == CallStatus.OK.value,
        *_in_workspace(workspace_id),
    )
    latencies: dict[tuple[str, str], list[int]] = {}
    for provider, model, latency in (await session.exec(statement)).all():
        latencies.setdefault((provider, model), []).append(latency)
    return latencies


async def last_error(
    session: AsyncSession, provider: str, model: str, *, workspace_id: uuid.UUID | None = None
) -> tuple[str | None, datetime] | None:
    statement = (
        select(ModelCall.error, ModelCall.created_at)
        .where(
            ModelCall.provider == provider,
            ModelCall.model == model,
            ModelCall.status == CallStatus.ERROR.value,
            *_in_workspace(workspace_id),
        )
        .order_by(col(ModelCall.created_at).desc())
        .limit(1)
    )
    row = (await session.exec(statement)).first()
    return None if row is None else (row[0], as_utc(row[1]))


async def recent_outcomes(
    session: AsyncSession, provider: str, model: str, limit: int
) -> list[tuple[bool, datetime]]:
    """The last `limit` calls that reached the provider, as (succeeded, at), oldest first: all the
    history a circuit breaker with a threshold of `limit` needs."""
    statement = (
        select(ModelCall.status, ModelCall.created_at)
        .where(
            ModelCall.provider == provider,
            ModelCall.model == model,
            col(ModelCall.status).in_((CallStatus.OK.value, CallStatus.ERROR.value)),
        )
        .order_by(col(ModelCall.created_at).desc())
        .limit(limit)
    )
    rows = (await session.exec(statement)).all()
    return [(status == CallStatus.OK.value, as_utc(at)) for status, at in reversed(rows)]
