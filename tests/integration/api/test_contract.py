"""Issue 10 item 11: the OpenAPI document declares what the server really sends, and wrong
methods are 405 with a complete Allow header."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fixtures_identity import Tenant
from spectral.platform.shared.settings import Settings
from spectral_api.app import create_app
from spectral_api.state import AppState

PROBLEM = "application/problem+json"


async def test_a_wrong_method_on_a_fixed_path_is_405_not_422(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for method in ("PATCH", "GET", "DELETE"):
        response = await client.request(
            method,
            f"{tenant.ws}/evaluations/rubrics/generate",
            json={"agent_id": "x"},
            headers=tenant.headers,
        )
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "POST"
        assert response.headers["content-type"] == PROBLEM


async def test_405_lists_every_method_of_the_path(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.request("PUT", "/api/v1/account", headers=tenant.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH"


async def test_every_error_is_declared_as_a_problem_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) > 100
    for path, method, operation in operations:
        responses = operation["responses"]
        assert {"400", "422"} <= responses.keys(), (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM], (method, path, status)
        if operation.get("security"):
            assert {"401", "403", "429"} <= responses.keys(), (method, path)
            assert "Retry-After" in responses["429"]["headers"]
        if "{workspace_id}" in path:
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            assert "X-Workspace-Id" in names, (method, path)


async def test_the_schema_states_what_the_edge_refuses(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    offset = next(
        p
        for p in document["paths"]["/api/v1/workspaces/{workspace_id}/agents"]["get"]["parameters"]
        if p["name"] == "offset"
    )
    assert offset["schema"]["maximum"] == 2**63 - 1
    agent_create = document["components"]["schemas"]["AgentCreate"]["properties"]["name"]
    assert agent_create["pattern"] == "^[^\\x00]*$"


async def test_docs_are_on_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/redoc")).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_can_be_switched_off(path: str, settings: Settings, app: FastAPI, tmp_path: Path) -> None:
    settings.docs_enabled = False
    state: AppState = app.state.spectral
    quiet = create_app(settings, state=state)
    transport = httpx.ASGITransport(app=quiet)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get(path)).status_code == 404
        assert (await http.get("/openapi.json")).status_code == 200
