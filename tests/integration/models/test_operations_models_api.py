"""`/api/v1/operations/models`: per-model configs and model health, for operations staff only."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, select

from fixtures_identity import TEST_PASSWORD, Tenant, bearer
from integration.models.gateway_support import MakeGateway, gateway_settings
from integration.models.llm_servers import ScriptedLLMServer
from spectral.platform.identity.operators import grant_operator
from spectral.platform.identity.scopes import OperationsRole
from spectral.platform.models.budget import Budget
from spectral.platform.models.errors import CircuitOpenError, ModelCallFailedError
from spectral.platform.models.gateway import CallContext
from spectral.platform.models.models import CallPurpose
from spectral.platform.models.providers import ChatRequest
from spectral.platform.shared.settings import Settings
from spectral.platform.workspaces.models import AuditLogEntry
from spectral_api.state import AppState

BASE = "/api/v1/operations/models"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
Operator = Callable[[OperationsRole], Awaitable[dict[str, str]]]


@pytest.fixture
def settings(settings: Settings, openai_server: ScriptedLLMServer) -> Settings:
    """The API runs with the provider and circuit policy of the gateway, as a deployment does."""
    return gateway_settings(settings, openai_server, llm_max_retries=0, llm_circuit_cooldown_s=60)


@pytest.fixture
def operator(app: FastAPI) -> Operator:
    state: AppState = app.state.spectral

    async def headers(role: OperationsRole) -> dict[str, str]:
        async with state.db.session() as session:
            grant = await grant_operator(
                session,
                f"ops-{uuid.uuid4().hex[:10]}@example.com",
                role,
                password=TEST_PASSWORD,
                passwords=state.passwords,
            )
        return bearer(state.tokens.issue(grant.user.id, generation=0).token)

    return headers


async def test_only_operations_staff_see_models(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await client.get(f"{BASE}/health")).status_code == 401
    for path in ("/health", "/config"):
        response = await client.get(f"{BASE}{path}", headers=tenant.headers)
        assert response.status_code == 403, response.text
        assert "read:operations" in response.json()["detail"]


async def test_model_config_lifecycle(client: httpx.AsyncClient, operator: Operator, app: FastAPI) -> None:
    owner = await operator(OperationsRole.OWNER)
    llama = {
        "model": LLAMA,
        "input_per_million": 0,
        "output_per_million": 0,
        "context_window": 8192,
        "roles": ["judge"],
    }

    created = await client.post(f"{BASE}/config", json=llama, headers=owner)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{BASE}/config/{LLAMA}"
    body = created.json()
    assert (body["model"], body["roles"], body["enabled"]) == (LLAMA, ["judge"], True)
    assert (body["priced"], body["catalog_price"]) == (True, False)

    assert (await client.post(f"{BASE}/config", json=llama, headers=owner)).status_code == 409
    taken = await client.post(f"{BASE}/config", json={"model": "gpt-4o", "roles": ["judge"]}, headers=owner)
    assert taken.status_code == 409
    assert LLAMA in taken.json()["detail"]
    half_priced = await client.post(
        f"{BASE}/config", json={"model": "x", "input_per_million": 1}, headers=owner
    )
    assert half_priced.status_code == 422

    gpt = await client.post(f"{BASE}/config", json={"model": "gpt-4o", "roles": ["proposer"]}, headers=owner)
    assert gpt.status_code == 201
    assert (gpt.json()["priced"], gpt.json()["catalog_price"]) == (True, True)
    unknown = await client.post(f"{BASE}/config", json={"model": "my-finetune"}, headers=owner)
    assert unknown.json()["priced"] is False

    listed = (await client.get(f"{BASE}/config", headers=owner)).json()
    assert [c["model"] for c in listed["results"]] == ["gpt-4o", LLAMA, "my-finetune"]
    assert listed["pagination"]["total"] == 3

    disabled = await client.patch(f"{BASE}/config/{LLAMA}", json={"enabled": False}, headers=owner)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["enabled"] is False
    # With the judge disabled, another model may take the role.
    both = await client.patch(f"{BASE}/config/gpt-4o", json={"roles": ["judge", "proposer"]}, headers=owner)
    assert both.status_code == 200
    assert both.json()["roles"] == ["judge", "proposer"]
    assert (
        await client.patch(f"{BASE}/config/{LLAMA}", json={"enabled": True}, headers=owner)
    ).status_code == 409
    catalog_again = await client.patch(
        f"{BASE}/config/{LLAMA}", json={"input_per_million": None, "output_per_million": None}, headers=owner
    )
    assert catalog_again.json()["catalog_price"] is True
    assert (
        await client.patch(f"{BASE}/config/nope", json={"enabled": True}, headers=owner)
    ).status_code == 404
    assert (
        await client.patch(f"{BASE}/config/gpt-4o", json={"enabled": None}, headers=owner)
    ).status_code == 422

    assert (await client.delete(f"{BASE}/config/{LLAMA}", headers=owner)).status_code == 204
    assert (await client.delete(f"{BASE}/config/{LLAMA}", headers=owner)).status_code == 404
    listed = (await client.get(f"{BASE}/config", headers=owner)).json()
    assert [c["model"] for c in listed["results"]] == ["gpt-4o", "my-finetune"]

    state: AppState = app.state.spectral
    async with state.db.session() as session:
        actions = (
            await session.exec(
                select(AuditLogEntry.action)
                .where(AuditLogEntry.resource_type == "model_config")
                .order_by(col(AuditLogEntry.created_at))
            )
        ).all()
    assert actions.count("model_config.create") == 3
    assert actions.count("model_config.update") == 3
    assert actions.count("model_config.delete") == 1


async def test_operations_roles_gate_writes_and_deletes(
    client: httpx.AsyncClient, operator: Operator
) -> None:
    viewer = await operator(OperationsRole.VIEWER)
    staff = await operator(OperationsRole.OPERATOR)

    assert (await client.get(f"{BASE}/config", headers=viewer)).status_code == 200
    denied = await client.post(f"{BASE}/config", json={"model": "gpt-4o"}, headers=viewer)
    assert denied.status_code == 403
    assert (await client.post(f"{BASE}/config", json={"model": "gpt-4o"}, headers=staff)).status_code == 201
    no_delete = await client.delete(f"{BASE}/config/gpt-4o", headers=staff)
    assert no_delete.status_code == 403
    assert "delete:operations" in no_delete.json()["detail"]


async def test_health_reports_what_the_gateway_did(
    client: httpx.AsyncClient,
    operator: Operator,
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    tenant: Tenant,
) -> None:
    gateway = make_gateway(openai_server, llm_max_retries=0, llm_circuit_cooldown_s=60)
    context = CallContext(tenant.workspace_id, None, CallPurpose.JUDGE)
    await gateway.complete(ChatRequest("gpt-4o", "hello"), context, Budget(1.0))
    openai_server.fail(500, times=3)
    for i in range(3):
        with pytest.raises(ModelCallFailedError):
            await gateway.complete(ChatRequest("gpt-4o-mini", f"q{i}"), context, Budget(1.0))
    with pytest.raises(CircuitOpenError):
        await gateway.complete(ChatRequest("gpt-4o-mini", "refused"), context, Budget(1.0))

    response = await client.get(f"{BASE}/health", headers=await operator(OperationsRole.VIEWER))

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["provider"], report["judge_model"], report["proposer_model"]) == (
        "openai",
        "gpt-4o-mini",
        "gpt-4o",
    )
    by_model = {m["model"]: m for m in report["models"]}
    mini = by_model["gpt-4o-mini"]
    assert (mini["calls"], mini["errors"], mini["refused"], mini["error_rate"]) == (4, 3, 1, 1.0)
    assert mini["circuit_state"] == "open"
    assert "scripted 500" in mini["last_error"]
    healthy = by_model["gpt-4o"]
    assert (healthy["calls"], healthy["succeeded"], healthy["error_rate"]) == (1, 1, 0.0)
    assert healthy["p50_latency_ms"] == healthy["p95_latency_ms"]
    assert healthy["circuit_state"] == "closed"
