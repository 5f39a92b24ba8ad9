"""The model series of `/metrics` against a real OpenAI-compatible server on 127.0.0.1: calls by
status, latency and cost move with the gateway's ledger, and the circuit gauge follows the state
the ledger implies (2 open after repeated 500s, 1 half-open after the cool-down, 0 closed)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from integration.models.gateway_support import Ledger, MakeGateway, gateway_settings
from integration.models.llm_servers import ScriptedLLMServer
from scrape import scrape, value
from spectral.platform.models.budget import Budget
from spectral.platform.models.errors import CircuitOpenError, ModelCallFailedError
from spectral.platform.models.gateway import CallContext
from spectral.platform.models.models import CallPurpose
from spectral.platform.models.providers import ChatRequest
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Settings
from spectral_api.app import create_app
from spectral_api.state import AppState

MODEL = "gpt-4o-mini"
# Long enough that the circuit is still open when scraped on a loaded machine.
COOLDOWN_S = 2.0
CIRCUIT = {"provider": "openai", "model": MODEL}


def request(prompt: str) -> ChatRequest:
    return ChatRequest(model=MODEL, prompt=prompt, system="Answer briefly.", max_tokens=64)


@pytest.fixture
async def metrics_client(
    openai_server: ScriptedLLMServer, settings: Settings, db: Database, queue: InProcessQueue
) -> AsyncIterator[httpx.AsyncClient]:
    """The API's /metrics, with the same circuit policy as the gateway under test."""
    changed = gateway_settings(settings, openai_server, llm_max_retries=0, llm_circuit_cooldown_s=COOLDOWN_S)
    app = create_app(changed, state=AppState(settings=changed, db=db, queue=queue))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_model_series_and_the_circuit_gauge_follow_the_ledger(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    metrics_client: httpx.AsyncClient,
    workspace_id: uuid.UUID,
    ledger: Ledger,
) -> None:
    gateway = make_gateway(openai_server, llm_max_retries=0, llm_circuit_cooldown_s=COOLDOWN_S)
    context = CallContext(workspace_id, None, CallPurpose.JUDGE)
    calls = {**CIRCUIT, "purpose": "judge"}
    before = await scrape(metrics_client)

    openai_server.fail(500, times=3)
    for i in range(3):
        with pytest.raises(ModelCallFailedError):
            await gateway.complete(request(f"question {i}"), context, Budget(1.0))
    with pytest.raises(CircuitOpenError):
        await gateway.complete(request("refused"), context, Budget(1.0))
    opened = await scrape(metrics_client)
    assert value(opened, "spectral_model_circuit_state", **CIRCUIT) == 2
    assert value(opened, "spectral_model_calls_total", **calls, status="error") == (
        value(before, "spectral_model_calls_total", **calls, status="error") + 3
    )
    assert value(opened, "spectral_model_calls_total", **calls, status="circuit_open") == (
        value(before, "spectral_model_calls_total", **calls, status="circuit_open") + 1
    )
    # A refusal sent nothing: it has no latency.
    duration = "spectral_model_call_duration_seconds_count"
    assert value(opened, duration, **CIRCUIT) == value(before, duration, **CIRCUIT) + 3

    await asyncio.sleep(COOLDOWN_S + 0.1)
    assert value(await scrape(metrics_client), "spectral_model_circuit_state", **CIRCUIT) == 1

    assert (await gateway.complete(request("probe"), context, Budget(1.0))).text == "a fine answer"
    closed = await scrape(metrics_client)
    assert value(closed, "spectral_model_circuit_state", **CIRCUIT) == 0
    assert value(closed, "spectral_model_calls_total", **calls, status="ok") == (
        value(before, "spectral_model_calls_total", **calls, status="ok") + 1
    )
    assert value(closed, duration, **CIRCUIT) == value(before, duration, **CIRCUIT) + 4
    spent = sum(call.cost_usd for call in await ledger())
    assert spent > 0
    cost = "spectral_model_cost_usd_total"
    assert value(closed, cost, **calls) == pytest.approx(value(before, cost, **calls) + spent)

    # The same prompt again is answered from the cache: counted, free, and sent nowhere.
    await gateway.complete(request("probe"), context, Budget(1.0))
    cached = await scrape(metrics_client)
    assert value(cached, "spectral_model_calls_total", **calls, status="cached") == (
        value(closed, "spectral_model_calls_total", **calls, status="cached") + 1
    )
    assert value(cached, cost, **calls) == value(closed, cost, **calls)
    assert value(cached, duration, **CIRCUIT) == value(closed, duration, **CIRCUIT)
