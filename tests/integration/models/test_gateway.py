"""The gateway against real HTTP servers on 127.0.0.1: pricing and ledger, retries, the circuit,
the budget, the cache, operations' model configs and the context window."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from integration.models.gateway_support import Ledger, MakeGateway, add_config
from integration.models.llm_servers import Reply, ScriptedLLMServer
from spectral.engine.errors import BudgetExhausted
from spectral.platform.models import repository
from spectral.platform.models.budget import Budget
from spectral.platform.models.errors import (
    CircuitOpenError,
    ModelCallFailedError,
    ModelDisabledError,
    PromptTooLongError,
    UnpricedModelError,
)
from spectral.platform.models.gateway import CallContext, ModelGateway, estimate_input_tokens
from spectral.platform.models.jobs import prune_model_cache
from spectral.platform.models.models import CallPurpose, ModelResponse
from spectral.platform.models.pricing import default_catalog
from spectral.platform.models.providers import ChatRequest
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings

MINI = "gpt-4o-mini"


def request(prompt: str = "Is the sky blue?", *, model: str = MINI, max_tokens: int = 256) -> ChatRequest:
    return ChatRequest(model=model, prompt=prompt, system="Answer briefly.", max_tokens=max_tokens)


@pytest.fixture
def scan_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def context(workspace_id: uuid.UUID, scan_id: uuid.UUID) -> CallContext:
    return CallContext(workspace_id, scan_id, CallPurpose.JUDGE)


def test_no_provider_means_no_gateway(db: Database, settings: Settings) -> None:
    assert settings.llm_provider is None
    assert ModelGateway.from_settings(db, settings) is None


async def test_openai_call_is_priced_ledgered_and_costed(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    context: CallContext,
    ledger: Ledger,
    db: Database,
    workspace_id: uuid.UUID,
    scan_id: uuid.UUID,
) -> None:
    gateway = make_gateway(openai_server)
    budget = Budget(1.0)

    completion = await gateway.complete(request(), context, budget)

    assert completion.text == "a fine answer"
    assert completion.finish_reason == "stop"
    assert (completion.input_tokens, completion.output_tokens) == (1000, 200)
    [sent] = openai_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    assert sent.body == {
        "model": MINI,
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Is the sky blue?"},
        ],
        "max_tokens": 256,
        "temperature": 0.0,
    }
    price = default_catalog().lookup(MINI)
    assert price is not None
    expected_cost = (1000 * price.input_per_million + 200 * price.output_per_million) / 1_000_000
    [call] = await ledger()
    assert (call.status, call.provider, call.model, call.purpose) == ("ok", "openai", MINI, "judge")
    assert call.scan_id == scan_id
    assert (call.input_tokens, call.output_tokens, call.attempts) == (1000, 200, 1)
    assert call.cost_usd == pytest.approx(expected_cost)
    assert call.latency_ms >= 0
    assert budget.spent_usd == pytest.approx(expected_cost)
    assert budget.reserved_usd == 0

    async with db.session() as session:
        cost = await repository.cost_by_model(session, workspace_id, scan_id)
        other_tenant_view = await repository.cost_by_model(session, uuid.uuid4(), scan_id)
    assert [(m.model, m.calls, m.input_tokens, m.output_tokens) for m in cost.models] == [
        (MINI, 1, 1000, 200)
    ]
    assert cost.total_cost_usd == pytest.approx(expected_cost, abs=1e-6)
    assert other_tenant_view.models == []


async def test_anthropic_call(
    anthropic_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, ledger: Ledger
) -> None:
    anthropic_server.finish = "max_tokens"
    gateway = make_gateway(anthropic_server)

    completion = await gateway.complete(request(model="claude-3-5-haiku-20241022"), context, Budget(1.0))

    assert completion.text == "a fine answer"
    assert completion.finish_reason == "length"
    [sent] = anthropic_server.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-test-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body["system"] == "Answer briefly."
    assert sent.body["messages"] == [{"role": "user", "content": "Is the sky blue?"}]
    [call] = await ledger()
    assert (call.status, call.provider, call.input_tokens, call.output_tokens) == (
        "ok",
        "anthropic",
        1000,
        200,
    )
    assert call.cost_usd > 0


async def test_429_waits_for_retry_after_then_succeeds(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, ledger: Ledger
) -> None:
    openai_server.fail(429, retry_after="1")
    gateway = make_gateway(openai_server)

    completion = await gateway.complete(request(), context, Budget(1.0))

    assert completion.text == "a fine answer"
    first, second = openai_server.requests
    assert second.at - first.at >= 0.95
    [call] = await ledger()
    assert (call.status, call.attempts) == ("ok", 2)


async def test_5xx_are_retried_with_backoff_then_succeed(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, ledger: Ledger
) -> None:
    openai_server.fail(500)
    openai_server.fail(503)
    openai_server.fail(502)
    gateway = make_gateway(openai_server)

    await gateway.complete(request(), context, Budget(1.0))

    assert openai_server.count == 4
    [call] = await ledger()
    assert (call.status, call.attempts) == ("ok", 4)


async def test_a_slow_response_times_out_and_is_retried(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, ledger: Ledger
) -> None:
    openai_server.script(Reply(delay_s=1.5))
    gateway = make_gateway(openai_server, llm_timeout_s=0.3)

    started = time.monotonic()
    completion = await gateway.complete(request(), context, Budget(1.0))

    assert completion.text == "a fine answer"
    assert time.monotonic() - started < 1.5
    assert openai_server.count == 2
    [call] = await ledger()
    assert (call.status, call.attempts) == ("ok", 2)


async def test_retries_give_up_and_the_failure_is_ledgered(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, ledger: Ledger
) -> None:
    openai_server.fail(500, times=10)
    gateway = make_gateway(openai_server, llm_max_retries=2)
    budget = Budget(1.0)

    with pytest.raises(ModelCallFailedError, match="HTTP 500: scripted 500"):
        await gateway.complete(request(), context, budget)

    assert openai_server.count == 3
    [call] = await ledger()
    assert (call.status, call.attempts, call.cost_usd, call.input_tokens) == ("error", 3, 0.0, 0)
    assert call.error is not None
    assert "scripted 500" in call.error
    assert (budget.spent_usd, budget.reserved_usd) == (0.0, 0.0)


async def test_a_client_error_is_not_retried(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, ledger: Ledger
) -> None:
    openai_server.fail(400)
    gateway = make_gateway(openai_server)

    with pytest.raises(ModelCallFailedError):
        await gateway.complete(request(), context, Budget(1.0))

    assert openai_server.count == 1
    [call] = await ledger()
    assert (call.status, call.attempts) == ("error", 1)


async def test_a_retry_after_beyond_the_ceiling_gives_up_at_once(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext
) -> None:
    openai_server.fail(429, retry_after="3600")
    gateway = make_gateway(openai_server)

    with pytest.raises(ModelCallFailedError, match="429"):
        await gateway.complete(request(), context, Budget(1.0))
    assert openai_server.count == 1


async def test_repeated_failures_open_the_circuit_then_a_probe_closes_it(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, ledger: Ledger
) -> None:
    gateway = make_gateway(openai_server, llm_max_retries=0, llm_circuit_cooldown_s=0.5)
    openai_server.fail(500, times=3)
    for i in range(3):
        with pytest.raises(ModelCallFailedError):
            await gateway.complete(request(f"question {i}"), context, Budget(1.0))
    assert openai_server.count == 3

    started = time.monotonic()
    with pytest.raises(CircuitOpenError):
        await gateway.complete(request("refused"), context, Budget(1.0))
    assert time.monotonic() - started < 0.2
    assert openai_server.count == 3
    assert [c.status for c in await ledger()] == ["error", "error", "error", "circuit_open"]

    await asyncio.sleep(0.55)
    # Half-open: the probe goes out and, answered, closes the circuit.
    assert (await gateway.complete(request("probe"), context, Budget(1.0))).text == "a fine answer"
    await gateway.complete(request("after"), context, Budget(1.0))
    assert openai_server.count == 5
    assert [c.status for c in await ledger()][-2:] == ["ok", "ok"]


async def test_a_failed_probe_opens_the_circuit_again(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext
) -> None:
    gateway = make_gateway(openai_server, llm_max_retries=0, llm_circuit_cooldown_s=0.3)
    openai_server.fail(503, times=4)
    for i in range(3):
        with pytest.raises(ModelCallFailedError):
            await gateway.complete(request(f"q{i}"), context, Budget(1.0))
    await asyncio.sleep(0.35)
    with pytest.raises(ModelCallFailedError):
        await gateway.complete(request("probe"), context, Budget(1.0))
    with pytest.raises(CircuitOpenError):
        await gateway.complete(request("refused"), context, Budget(1.0))
    assert openai_server.count == 4


async def test_half_open_lets_one_probe_through_at_a_time(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext
) -> None:
    gateway = make_gateway(openai_server, llm_max_retries=0, llm_circuit_cooldown_s=0.2)
    openai_server.fail(500, times=3)
    for i in range(3):
        with pytest.raises(ModelCallFailedError):
            await gateway.complete(request(f"q{i}"), context, Budget(1.0))
    await asyncio.sleep(0.25)
    openai_server.script(Reply(delay_s=0.3))

    outcomes = await asyncio.gather(
        *(gateway.complete(request(f"concurrent {i}"), context, Budget(1.0)) for i in range(3)),
        return_exceptions=True,
    )

    assert sum(isinstance(o, CircuitOpenError) for o in outcomes) == 2
    assert openai_server.count == 4


async def test_a_new_gateway_starts_from_the_ledger_circuit(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext
) -> None:
    first = make_gateway(openai_server, llm_max_retries=0, llm_circuit_cooldown_s=30)
    openai_server.fail(500, times=3)
    for i in range(3):
        with pytest.raises(ModelCallFailedError):
            await first.complete(request(f"q{i}"), context, Budget(1.0))

    second = make_gateway(openai_server, llm_max_retries=0, llm_circuit_cooldown_s=30)
    with pytest.raises(CircuitOpenError):
        await second.complete(request("next scan"), context, Budget(1.0))
    assert openai_server.count == 3


async def test_budget_stops_the_call_before_any_request(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, ledger: Ledger
) -> None:
    gateway = make_gateway(openai_server)
    price = default_catalog().lookup("gpt-4o")
    assert price is not None
    big = request("x" * 3000, model="gpt-4o", max_tokens=1000)
    estimate = price.cost(estimate_input_tokens(big), 1000)

    with pytest.raises(BudgetExhausted, match="would exceed the budget"):
        await gateway.complete(big, context, Budget(estimate * 0.99))

    assert openai_server.count == 0
    assert await ledger() == []


async def test_budget_allows_what_fits_and_stops_the_rest(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, ledger: Ledger
) -> None:
    gateway = make_gateway(openai_server)
    openai_server.input_tokens, openai_server.output_tokens = 50, 50
    price = default_catalog().lookup(MINI)
    assert price is not None
    # The estimate is reserved, the (smaller) actual price spent: room for two calls, not three.
    one_call = price.cost(estimate_input_tokens(request("first")), 256)
    budget = Budget(one_call + 1.5 * price.cost(50, 50))

    await gateway.complete(request("first"), context, budget)
    assert budget.spent_usd == pytest.approx(price.cost(50, 50))
    await gateway.complete(request("second"), context, budget)
    with pytest.raises(BudgetExhausted):
        await gateway.complete(request("third"), context, budget)

    assert openai_server.count == 2
    assert [c.status for c in await ledger()] == ["ok", "ok"]
    assert budget.spent_usd <= budget.limit_usd


async def test_concurrent_calls_cannot_overshoot_the_budget(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext
) -> None:
    gateway = make_gateway(openai_server)
    price = default_catalog().lookup(MINI)
    assert price is not None
    one_call = price.cost(estimate_input_tokens(request("q0")), 256)
    budget = Budget(one_call * 3.5)

    outcomes = await asyncio.gather(
        *(gateway.complete(request(f"q{i}"), context, budget) for i in range(8)), return_exceptions=True
    )

    assert sum(isinstance(o, BudgetExhausted) for o in outcomes) == 5
    assert openai_server.count == 3


async def test_scan_budget_starts_from_what_the_scan_already_spent(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, workspace_id: uuid.UUID
) -> None:
    gateway = make_gateway(openai_server)
    assert context.scan_id is not None
    budget = await gateway.scan_budget(workspace_id, context.scan_id, 1.0)
    await gateway.complete(request(), context, budget)

    resumed = await gateway.scan_budget(workspace_id, context.scan_id, 1.0)
    assert resumed.spent_usd == pytest.approx(budget.spent_usd)
    assert resumed.spent_usd > 0


async def test_an_unpriced_model_is_refused_until_operations_price_it(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    context: CallContext,
    db: Database,
    ledger: Ledger,
) -> None:
    local = request(model="llama3.1:8b-instruct")
    with pytest.raises(UnpricedModelError):
        await make_gateway(openai_server).complete(local, context, Budget(1.0))
    assert openai_server.count == 0

    await add_config(db, "llama3.1:8b-instruct", input_per_million=0.0, output_per_million=0.0)
    await make_gateway(openai_server).complete(local, context, Budget(0.0))
    [call] = await ledger()
    assert (call.status, call.cost_usd) == ("ok", 0.0)


async def test_a_price_override_replaces_the_catalog(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    context: CallContext,
    db: Database,
    ledger: Ledger,
) -> None:
    await add_config(db, MINI, input_per_million=1.0, output_per_million=2.0)
    await make_gateway(openai_server).complete(request(), context, Budget(1.0))
    [call] = await ledger()
    assert call.cost_usd == pytest.approx((1000 * 1.0 + 200 * 2.0) / 1_000_000)


async def test_a_disabled_model_is_refused(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    context: CallContext,
    db: Database,
    ledger: Ledger,
) -> None:
    await add_config(db, MINI, enabled=False)
    with pytest.raises(ModelDisabledError):
        await make_gateway(openai_server).complete(request(), context, Budget(1.0))
    assert openai_server.count == 0
    assert await ledger() == []


async def test_the_context_window_caps_the_answer_and_refuses_a_prompt_that_fills_it(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext, db: Database
) -> None:
    await add_config(db, MINI, context_window=300)
    gateway = make_gateway(openai_server)
    short = request("short", max_tokens=1000)

    await gateway.complete(short, context, Budget(1.0))
    assert openai_server.requests[0].body["max_tokens"] == 300 - estimate_input_tokens(short)

    with pytest.raises(PromptTooLongError):
        await gateway.complete(request("y" * 3000), context, Budget(1.0))
    assert openai_server.count == 1


@pytest.mark.both_backends
async def test_a_rerun_is_answered_from_the_cache_for_free(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    context: CallContext,
    ledger: Ledger,
    db: Database,
    workspace_id: uuid.UUID,
) -> None:
    first = await make_gateway(openai_server).complete(request(), context, Budget(1.0))
    # A re-run: a new gateway (as each scan builds one), with no budget left at all.
    again = await make_gateway(openai_server).complete(request(), context, Budget(0.0))

    assert again.text == first.text
    assert openai_server.count == 1
    ok, cached = await ledger()
    assert (ok.status, cached.status) == ("ok", "cached")
    assert (cached.cost_usd, cached.input_tokens, cached.output_tokens) == (0.0, 0, 0)
    assert context.scan_id is not None
    async with db.session() as session:
        cost = await repository.cost_by_model(session, workspace_id, context.scan_id)
    [model] = cost.models
    assert (model.calls, model.cached_calls, model.cost_usd) == (2, 1, pytest.approx(ok.cost_usd, abs=1e-6))

    # Other params or another sample are other questions.
    gateway = make_gateway(openai_server)
    await gateway.complete(request(max_tokens=100), context, Budget(1.0))
    await gateway.complete(request(), context, Budget(1.0), sample=1)
    assert openai_server.count == 3


async def test_cached_answers_expire_and_are_pruned(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    context: CallContext,
    db: Database,
    settings: Settings,
) -> None:
    async def age_the_cache() -> None:
        async with db.session() as session:
            expired = utcnow() - timedelta(days=settings.llm_cache_days + 1)
            await session.exec(sa.update(ModelResponse).values(created_at=expired))

    async def cached() -> list[ModelResponse]:
        async with db.session() as session:
            return list((await session.exec(select(ModelResponse))).all())

    await make_gateway(openai_server).complete(request(), context, Budget(1.0))
    await age_the_cache()
    # Past its lifetime the answer is not reused: the provider is asked again, and the fresh
    # answer replaces the expired one under the same key.
    await make_gateway(openai_server).complete(request(), context, Budget(1.0))
    assert openai_server.count == 2
    [fresh] = await cached()
    assert utcnow() - fresh.created_at < timedelta(minutes=5)
    assert await prune_model_cache({"db": db, "settings": settings}) == 0
    # The hourly job removes what expired.
    await age_the_cache()
    assert await prune_model_cache({"db": db, "settings": settings}) == 1
    assert await cached() == []


async def test_reasoning_models_get_max_completion_tokens_when_configured(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, context: CallContext
) -> None:
    gateway = make_gateway(openai_server, llm_openai_max_tokens_param="max_completion_tokens")
    await gateway.complete(request(max_tokens=77), context, Budget(1.0))
    [sent] = openai_server.requests
    assert sent.body["max_completion_tokens"] == 77
    assert "max_tokens" not in sent.body
