"""Operations' use cases of the model gateway: per-model configs (audited) and model health."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity.principal import Principal
from spectral.platform.models import repository
from spectral.platform.models.circuit import CircuitBreaker, CircuitPolicy, CircuitState
from spectral.platform.models.gateway import ConfiguredModel, role_model
from spectral.platform.models.models import ModelConfig, ModelRole
from spectral.platform.models.pricing import default_catalog
from spectral.platform.models.schemas import (
    ModelConfigCreate,
    ModelConfigRead,
    ModelConfigUpdate,
    ModelHealthRead,
    ModelHealthReport,
)
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.errors import ConflictError
from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.shared.settings import Settings
from spectral.platform.workspaces.audit import record_audit

HEALTH_WINDOW = timedelta(hours=24)
_RESOURCE = "model_config"


def config_read(config: ModelConfig) -> ModelConfigRead:
    override = config.input_per_million is not None
    return ModelConfigRead(
        id=config.id,
        model=config.model,
        input_per_million=config.input_per_million,
        output_per_million=config.output_per_million,
        context_window=config.context_window,
        enabled=config.enabled,
        roles=list(config.roles),
        catalog_price=not override,
        priced=override or default_catalog().lookup(config.model) is not None,
        updated_by=config.updated_by,
        created_at=config.created_at,
        updated_at=config.updated_at,
    )


def _snapshot(config: ModelConfig) -> dict[str, Any]:
    return config.model_dump(mode="json", exclude={"id", "created_at", "updated_at", "updated_by"})


async def _check_roles(session: AsyncSession, model: str, roles: Sequence[str], enabled: bool) -> None:
    """A role has at most one enabled model, so which model judges is never a guess."""
    if not enabled or not roles:
        return
    for other in await repository.all_configs(session):
        if other.model == model or not other.enabled:
            continue
        shared = sorted(set(roles) & set(other.roles))
        if shared:
            raise ConflictError(
                f"model {other.model} already holds the {', '.join(shared)} role; "
                "take it from that model (or disable it) first"
            )


async def list_configs(session: AsyncSession, page: PageParams) -> Page[ModelConfigRead]:
    rows, total = await repository.list_configs(session, page)
    return Page.of([config_read(row) for row in rows], total=total, params=page)


async def create_config(
    session: AsyncSession, principal: Principal, body: ModelConfigCreate
) -> ModelConfigRead:
    if await repository.find_config(session, body.model) is not None:
        raise ConflictError(f"model {body.model} already has a config; change it with PATCH")
    roles = [role.value for role in body.roles]
    await _check_roles(session, body.model, roles, body.enabled)
    config = ModelConfig(
        model=body.model,
        input_per_million=body.input_per_million,
        output_per_million=body.output_per_million,
        context_window=body.context_window,
        enabled=body.enabled,
        roles=roles,
        updated_by=principal.actor,
    )
    session.add(config)
    await session.flush()
    await record_audit(
        session,
        principal,
        None,
        action="model_config.create",
        resource_type=_RESOURCE,
        resource_id=config.model,
        after=_snapshot(config),
    )
    return config_read(config)


async def update_config(
    session: AsyncSession, principal: Principal, model: str, body: ModelConfigUpdate
) -> ModelConfigRead:
    config = await repository.get_config(session, model)
    before = _snapshot(config)
    changes = body.model_dump(exclude_unset=True)
    if "roles" in changes:
        changes["roles"] = [ModelRole(role).value for role in changes["roles"]]
    await _check_roles(
        session, model, changes.get("roles", config.roles), changes.get("enabled", config.enabled)
    )
    for field, value in changes.items():
        setattr(config, field, value)
    config.updated_by = principal.actor
    config.updated_at = utcnow()
    session.add(config)
    await session.flush()
    await record_audit(
        session,
        principal,
        None,
        action="model_config.update",
        resource_type=_RESOURCE,
        resource_id=model,
        before=before,
        after=_snapshot(config),
    )
    return config_read(config)


async def delete_config(session: AsyncSession, principal: Principal, model: str) -> None:
    """The model goes back to the catalog price and the environment's roles."""
    config = await repository.get_config(session, model)
    before = _snapshot(config)
    await session.delete(config)
    await session.flush()
    await record_audit(
        session,
        principal,
        None,
        action="model_config.delete",
        resource_type=_RESOURCE,
        resource_id=model,
        before=before,
    )


def _percentile(sorted_values: Sequence[int], fraction: float) -> int | None:
    """Nearest-rank percentile: always a latency that was observed."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


async def circuit_state(
    session: AsyncSession, policy: CircuitPolicy, provider: str, model: str, now: datetime
) -> CircuitState:
    """The circuit state a model's ledger implies under `policy`: the rules every gateway applies,
    so whichever process asks sees what the workers see."""
    outcomes = await repository.recent_outcomes(session, provider, model, policy.failure_threshold)
    breaker = CircuitBreaker.from_history(policy, ((ok, at.timestamp()) for ok, at in outcomes))
    return breaker.state(now.timestamp())


async def circuit_states(
    session: AsyncSession,
    settings: Settings,
    *,
    window: timedelta = HEALTH_WINDOW,
    now: datetime | None = None,
) -> dict[tuple[str, str], CircuitState]:
    """The circuit state of every (provider, model) called within the window."""
    now = now or utcnow()
    policy = CircuitPolicy(settings.llm_circuit_failures, settings.llm_circuit_cooldown_s)
    return {
        (provider, model): await circuit_state(session, policy, provider, model, now)
        for provider, model in await repository.models_called(session, now - window)
    }


async def model_health(
    session: AsyncSession,
    settings: Settings,
    *,
    window: timedelta = HEALTH_WINDOW,
    now: datetime | None = None,
    workspace_id: uuid.UUID | None = None,
) -> ModelHealthReport:
    """Per provider and model over the window: calls, error rate, p50/p95 latency, the last error,
    and the circuit state its ledger implies under the configured breaker policy (the same rules
    every gateway applies, so the API reports what the workers see). With `workspace_id` (a
    tenant's view) the calls, latencies and errors are that workspace's only: another tenant's
    activity and error texts are theirs; the circuit state is the provider's, shared by all."""
    now = now or utcnow()
    since = now - window
    policy = CircuitPolicy(settings.llm_circuit_failures, settings.llm_circuit_cooldown_s)
    latencies = await repository.ok_latencies(session, since, workspace_id=workspace_id)
    models: list[ModelHealthRead] = []
    for counts in await repository.call_counts(session, since, workspace_id=workspace_id):
        observed = sorted(latencies.get((counts.provider, counts.model), []))
        attempted = counts.succeeded + counts.errors
        last_error = await repository.last_error(
            session, counts.provider, counts.model, workspace_id=workspace_id
        )
        models.append(
            ModelHealthRead(
                provider=counts.provider,
                model=counts.model,
                calls=counts.calls,
                succeeded=counts.succeeded,
                errors=counts.errors,
                cached=counts.cached,
                refused=counts.refused,
                error_rate=round(counts.errors / attempted, 4) if attempted else None,
                p50_latency_ms=_percentile(observed, 0.5),
                p95_latency_ms=_percentile(observed, 0.95),
                last_error=None if last_error is None else last_error[0],
                last_error_at=None if last_error is None else last_error[1],
                circuit_state=await circuit_state(session, policy, counts.provider, counts.model, now),
            )
        )
    provider = None if settings.llm_provider is None else settings.llm_provider.value
    configs = [ConfiguredModel.of(row, provider or "") for row in await repository.all_configs(session)]
    return ModelHealthReport(
        provider=provider,
        judge_model=None if provider is None else role_model(ModelRole.JUDGE, configs, settings),
        proposer_model=None if provider is None else role_model(ModelRole.PROPOSER, configs, settings),
        window_start=since,
        models=models,
    )
