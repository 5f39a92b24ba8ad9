"""The model gateway: every LLM call of the platform goes through `ModelGateway.complete`.

Per call, in order: operations' model config (disabled = refused), the response cache (a hit is
free), the price (catalog or override; unpriced = refused), the budget (the estimated price is
reserved before anything is sent), the model's circuit (open = refused without a request), then
the provider with retries on 429/5xx/timeouts/connection errors (exponential backoff with full
jitter, `Retry-After` honoured). Every outcome is written to the call ledger and counted in the
model metrics.

The gateway writes its ledger and cache rows in short transactions of its own, serialised by a
lock: money spent stays on record whatever happens to the caller's transaction, the judge calls
the gateway concurrently (which one `AsyncSession` cannot serve), and one connection per gateway
is all a burst of judge calls takes from the pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from spectral.platform.models import repository
from spectral.platform.models.budget import Budget
from spectral.platform.models.circuit import CircuitBreaker, CircuitPolicy
from spectral.platform.models.errors import (
    CircuitOpenError,
    ModelCallFailedError,
    ModelDisabledError,
    PromptTooLongError,
    UnpricedModelError,
)
from spectral.platform.models.models import (
    CallPurpose,
    CallStatus,
    ModelCall,
    ModelConfig,
    ModelResponse,
    ModelRole,
)
from spectral.platform.models.pricing import ModelPrice, default_catalog
from spectral.platform.models.providers import (
    ChatProvider,
    ChatRequest,
    Completion,
    ProviderError,
    build_provider,
)
from spectral.platform.shared import metrics
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings

# Operations' config changes (a disabled model, a new price) reach running gateways this fast.
CONFIG_TTL_S = 30.0
# Tokens per message and per request that chat formats add around the text.
_MESSAGE_OVERHEAD_TOKENS = 8
_ERROR_LIMIT = 2000
# Ledger statuses of calls that went to the provider (and so have a latency).
_SENT = frozenset({CallStatus.OK.value, CallStatus.ERROR.value})


def estimate_tokens(text: str) -> int:
    """An upper bound in practice: BPE tokenizers average ~4 bytes of English (and ~3 of CJK) per
    token, so bytes / 3 over-estimates, and a budget checked with it is not overshot."""
    return math.ceil(len(text.encode("utf-8")) / 3)


def estimate_input_tokens(request: ChatRequest) -> int:
    texts = [request.prompt] if request.system is None else [request.system, request.prompt]
    texts += [json.dumps(dataclasses.asdict(tool)) for tool in request.tools]
    texts += [json.dumps(dataclasses.asdict(turn)) for turn in request.tool_turns]
    return sum(estimate_tokens(t) + _MESSAGE_OVERHEAD_TOKENS for t in texts) + _MESSAGE_OVERHEAD_TOKENS


def _sha256(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CallContext:
    """Whom a call is for: the ledger row's workspace, scan and purpose."""

    workspace_id: uuid.UUID
    scan_id: uuid.UUID | None
    purpose: CallPurpose


@dataclass(frozen=True, slots=True)
class ConfiguredModel:
    """A snapshot of a `model_configs` row, safe to keep after its session closed."""

    model: str
    price: ModelPrice | None
    context_window: int | None
    enabled: bool
    roles: frozenset[str]

    @classmethod
    def of(cls, config: ModelConfig, provider: str) -> ConfiguredModel:
        price = None
        if config.input_per_million is not None and config.output_per_million is not None:
            price = ModelPrice(config.model, provider, config.input_per_million, config.output_per_million)
        return cls(config.model, price, config.context_window, config.enabled, frozenset(config.roles))


def role_model(role: ModelRole, configs: Iterable[ConfiguredModel], settings: Settings) -> str | None:
    """The model of a role: the enabled model operations gave the role, else the environment's
    default unless operations disabled it; None when there is none."""
    by_name = {configured.model: configured for configured in configs}
    for configured in by_name.values():
        if configured.enabled and role.value in configured.roles:
            return configured.model
    default = settings.llm_judge_model if role is ModelRole.JUDGE else settings.llm_proposer_model
    if default is None or (default in by_name and not by_name[default].enabled):
        return None
    return default


class ModelGateway:
    def __init__(
        self,
        db: Database,
        provider: ChatProvider,
        settings: Settings,
    ) -> None:
        self._db = db
        self._provider = provider
        self._settings = settings
        self._catalog = default_catalog()
        self._policy = CircuitPolicy(settings.llm_circuit_failures, settings.llm_circuit_cooldown_s)
        self._circuits: dict[str, CircuitBreaker] = {}
        self._configs: dict[str, ConfiguredModel] = {}
        self._configs_loaded_at: float | None = None
        self._db_lock = asyncio.Lock()
        self._random = random.Random()

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> ModelGateway | None:
        """The gateway of the configured provider, or None: without a provider there is no gateway
        (scans judge nothing by LLM and rewrite nothing), never a stand-in."""
        provider = build_provider(settings)
        return None if provider is None else cls(db, provider, settings)

    @property
    def provider_name(self) -> str:
        return self._provider.name

    async def aclose(self) -> None:
        await self._provider.aclose()

    # --- configuration ---------------------------------------------------------------------

    async def _model_configs(self) -> dict[str, ConfiguredModel]:
        now = time.monotonic()
        if self._configs_loaded_at is None or now - self._configs_loaded_at >= CONFIG_TTL_S:
            async with self._db_lock, self._db.session(writes=False) as session:
                rows = await repository.all_configs(session)
            self._configs = {row.model: ConfiguredModel.of(row, self.provider_name) for row in rows}
            self._configs_loaded_at = now
        return self._configs

    async def role_model(self, role: ModelRole) -> str | None:
        return role_model(role, (await self._model_configs()).values(), self._settings)

    async def scan_budget(self, workspace_id: uuid.UUID, scan_id: uuid.UUID, limit_usd: float) -> Budget:
        """A scan's budget, less what the ledger says the scan already spent (a resumed scan)."""
        async with self._db_lock, self._db.session(writes=False) as session:
            spent = await repository.scan_spend(session, workspace_id, scan_id)
        return Budget(limit_usd, spent_usd=spent)

    # --- the call --------------------------------------------------------------------------

    async def complete(
        self, request: ChatRequest, context: CallContext, budget: Budget, *, sample: int = 0
    ) -> Completion:
        """One completion of `request`, cached, priced, budgeted, circuit-guarded and ledgered.

        `sample` tells apart several completions of one prompt (a generator's n): it is part of
        the cache key and not sent. Raises `BudgetExhausted` (incl. `UnpricedModelError`) before
        anything is sent, or a `GatewayError`.
        """
        configured = (await self._model_configs()).get(request.model)
        if configured is not None and not configured.enabled:
            raise ModelDisabledError(f"model {request.model} is disabled by operations")
        request = self._fit_context(request, configured)
        prompt_hash = _sha256({"system": request.system, "prompt": request.prompt})
        params_hash = _sha256(
            {
                "provider": self.provider_name,
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "sample": sample,
            }
        )
        # The cache keeps text answers only: a tool-calling request is always sent.
        cached = (
            None if request.tools else await self._cached(context, request.model, prompt_hash, params_hash)
        )
        if cached is not None:
            return cached

        price = (configured.price if configured is not None else None) or self._catalog.lookup(request.model)
        if price is None:
            raise UnpricedModelError(
                f"model {request.model} has no price in the catalog or in its operations config; "
                "set one (0 for a self-hosted model) to let the gateway keep the budget"
            )
        reserved = budget.reserve(price.cost(estimate_input_tokens(request), request.max_tokens))
        try:
            breaker = await self._circuit(request.model)
            if not breaker.allow(time.time()):
                await self._ledger(
                    _row(
                        context,
                        request.model,
                        self.provider_name,
                        CallStatus.CIRCUIT_OPEN,
                        error="circuit open",
                    )
                )
                raise CircuitOpenError(f"model {request.model}: circuit open after repeated failures")
        except BaseException:
            budget.settle(reserved, 0.0)
            raise

        started = time.perf_counter()
        try:
            outcome, attempts = await self._send(request)
        except BaseException:
            budget.settle(reserved, 0.0)
            breaker.abandon()
            raise
        if isinstance(outcome, ProviderError):
            budget.settle(reserved, 0.0)
            breaker.record_failure(time.time())
            await self._ledger(
                _row(
                    context,
                    request.model,
                    self.provider_name,
                    CallStatus.ERROR,
                    latency_ms=_elapsed_ms(started),
                    attempts=attempts,
                    error=str(outcome)[:_ERROR_LIMIT],
                )
            )
            raise ModelCallFailedError(f"model {request.model}: {outcome}") from outcome
        completion = outcome

        breaker.record_success()
        input_tokens = completion.input_tokens
        output_tokens = completion.output_tokens
        # A server that reports no usage is charged at the estimate, never at nothing.
        if input_tokens is None:
            input_tokens = estimate_input_tokens(request)
        if output_tokens is None:
            output_tokens = estimate_tokens(completion.text)
        cost = price.cost(input_tokens, output_tokens)
        budget.settle(reserved, cost)
        call = _row(
            context,
            request.model,
            self.provider_name,
            CallStatus.OK,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
            latency_ms=_elapsed_ms(started),
            attempts=attempts,
        )
        answer = ModelResponse(
            workspace_id=context.workspace_id,
            model=request.model,
            prompt_hash=prompt_hash,
            params_hash=params_hash,
            output=completion.text,
            finish_reason=completion.finish_reason,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
        # The cache keeps text answers only.
        await self._ledger(call, cache=None if request.tools else answer)
        return completion

    def _fit_context(self, request: ChatRequest, configured: ConfiguredModel | None) -> ChatRequest:
        """Shorten the answer to what the context window leaves; refuse a prompt that fills it."""
        if configured is None or configured.context_window is None:
            return request
        room = configured.context_window - estimate_input_tokens(request)
        if room < 1:
            raise PromptTooLongError(
                f"model {request.model}: the prompt (~{estimate_input_tokens(request)} tokens) fills its "
                f"context window of {configured.context_window}"
            )
        if request.max_tokens <= room:
            return request
        return dataclasses.replace(request, max_tokens=room)

    async def _cached(
        self, context: CallContext, model: str, prompt_hash: str, params_hash: str
    ) -> Completion | None:
        async with self._db_lock, self._db.session(writes=False) as session:
            hit = await repository.cached_response(
                session,
                context.workspace_id,
                model,
                prompt_hash,
                params_hash,
                newer_than=utcnow() - timedelta(days=self._settings.llm_cache_days),
            )
        if hit is None:
            return None
        await self._ledger(_row(context, model, self.provider_name, CallStatus.CACHED))
        return Completion(hit.output, hit.finish_reason, hit.input_tokens, hit.output_tokens)

    async def _circuit(self, model: str) -> CircuitBreaker:
        """The model's breaker, started from the ledger so a new gateway (each scan builds one)
        does not hammer a model another one just found failing."""
        breaker = self._circuits.get(model)
        if breaker is None:
            async with self._db_lock, self._db.session(writes=False) as session:
                history = await repository.recent_outcomes(
                    session, self.provider_name, model, self._policy.failure_threshold
                )
            breaker = self._circuits.setdefault(
                model, CircuitBreaker.from_history(self._policy, ((ok, at.timestamp()) for ok, at in history))
            )
        return breaker

    async def _send(self, request: ChatRequest) -> tuple[Completion | ProviderError, int]:
        """The completion, or the last attempt's error once retrying is pointless; and the attempts made."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._provider.complete(request), attempt
            except ProviderError as exc:
                wait = self._backoff(attempt, exc)
                if wait is None:
                    return exc, attempt
            await asyncio.sleep(wait)

    def _backoff(self, attempt: int, error: ProviderError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        settings = self._settings
        if not error.retryable or attempt > settings.llm_max_retries:
            return None
        ceiling = min(settings.llm_backoff_max_s, settings.llm_backoff_base_s * 2 ** (attempt - 1))
        # Full jitter: concurrent callers that failed together do not retry together.
        wait = self._random.uniform(0.0, ceiling)
        if error.retry_after is not None:
            if error.retry_after > settings.llm_backoff_max_s:
                return None
            wait = max(wait, error.retry_after)
        return wait

    async def _ledger(self, call: ModelCall, *, cache: ModelResponse | None = None) -> None:
        """Every call's one way out: its ledger row (with its answer for the cache), then the
        model metrics, which count exactly what the ledger holds."""
        async with self._db_lock, self._db.session() as session:
            await repository.add_call(session, call)
            if cache is not None:
                await repository.store_response(session, cache)
        labels = (call.provider, call.model)
        metrics.MODEL_CALLS.labels(*labels, call.purpose, call.status).inc()
        if call.status in _SENT:
            metrics.MODEL_CALL_DURATION.labels(*labels).observe(call.latency_ms / 1000)
        if call.cost_usd > 0:
            metrics.MODEL_COST.labels(*labels, call.purpose).inc(call.cost_usd)


def _row(
    context: CallContext,
    model: str,
    provider: str,
    status: CallStatus,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost_usd: float = 0.0,
    latency_ms: int = 0,
    attempts: int = 0,
    error: str | None = None,
) -> ModelCall:
    return ModelCall(
        workspace_id=context.workspace_id,
        scan_id=context.scan_id,
        model=model,
        provider=provider,
        purpose=context.purpose.value,
        status=status.value,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost_usd,
        latency_ms=latency_ms,
        attempts=attempts,
        error=error,
    )


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
