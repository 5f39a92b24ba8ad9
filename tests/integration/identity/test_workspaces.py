"""Workspaces: CRUD, members with roles, autonomy validation, health."""

from __future__ import annotations

import httpx
import pytest

from fixtures_identity import Tenant

pytestmark = pytest.mark.both_backends


async def test_create_list_update_delete(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await client.post(
        "/api/v1/workspaces", json={"name": "Staging", "description": "pre-prod"}, headers=tenant.headers
    )
    assert created.status_code == 201
    workspace = created.json()
    assert created.headers["location"] == f"/api/v1/workspaces/{workspace['id']}"
    listed = await client.get("/api/v1/workspaces", headers=tenant.headers)
    assert {w["name"] for w in listed.json()["results"]} == {"Default", "Staging"}
    assert (await client.get("/api/v1/workspaces", headers=other_tenant.headers)).json()["pagination"][
        "total"
    ] == 1

    path = f"/api/v1/workspaces/{workspace['id']}"
    patched = await client.patch(path, json={"name": "Pre-production"}, headers=tenant.headers)
    assert patched.json()["name"] == "Pre-production"
    assert (await client.patch(path, json={"name": None}, headers=tenant.headers)).status_code == 422
    assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    assert (await client.get(path, headers=tenant.headers)).status_code == 404


async def test_members_with_roles(client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    viewer = await tenant.member("viewer")
    viewer_id = (await client.get("/api/v1/auth/me", headers=viewer)).json()["id"]
    # A viewer reads but cannot administer.
    assert (await client.get(f"{tenant.ws}/members", headers=viewer)).status_code == 200
    forbidden = await client.patch(f"{tenant.ws}/members/{viewer_id}", json={"role": "admin"}, headers=viewer)
    assert forbidden.status_code == 403
    assert "admin:workspace" in forbidden.json()["detail"]

    promoted = await client.patch(
        f"{tenant.ws}/members/{viewer_id}", json={"role": "editor"}, headers=tenant.headers
    )
    assert promoted.json()["role"] == "editor"
    # The role change applies to the very next request.
    me = (await client.get("/api/v1/auth/me", headers=viewer)).json()
    assert "write:workspace" in me["workspaces"][0]["scopes"]

    # Only account members can be added; someone of another tenant cannot.
    outsider = await client.post(
        f"{tenant.ws}/members",
        json={"user_id": str(other_tenant.user_id), "role": "viewer"},
        headers=tenant.headers,
    )
    assert outsider.status_code == 400
    duplicate = await client.post(
        f"{tenant.ws}/members", json={"user_id": viewer_id, "role": "viewer"}, headers=tenant.headers
    )
    assert duplicate.status_code == 409
    assert (
        await client.delete(f"{tenant.ws}/members/{viewer_id}", headers=tenant.headers)
    ).status_code == 204
    assert (await client.get(tenant.ws, headers=viewer)).status_code == 404


async def test_autonomy_defaults_validation_and_update(client: httpx.AsyncClient, tenant: Tenant) -> None:
    default = (await client.get(f"{tenant.ws}/autonomy", headers=tenant.headers)).json()
    assert default["level"] == "observe"
    assert set(default["guardrails"]) == {
        "min_holdout_gain",
        "max_cost_increase_pct",
        "max_latency_increase_pct",
        "nightly_budget_usd",
        "require_human_for",
    }
    settings = {
        "level": "auto_apply",
        "guardrails": {
            "min_holdout_gain": 0.03,
            "max_cost_increase_pct": 5,
            "max_latency_increase_pct": 15,
            "nightly_budget_usd": 2.5,
            "require_human_for": ["model", "tools"],
        },
    }
    saved = await client.put(f"{tenant.ws}/autonomy", json=settings, headers=tenant.headers)
    assert saved.status_code == 200
    assert saved.json()["level"] == "auto_apply"
    assert saved.json()["updated_by"] == f"user:{tenant.user_id}"
    again = (await client.get(f"{tenant.ws}/autonomy", headers=tenant.headers)).json()
    assert again["guardrails"]["nightly_budget_usd"] == 2.5

    for bad in (
        {"level": "yolo"},
        {"level": "suggest", "guardrails": {"nightly_budget_usd": -1}},
        {"level": "suggest", "guardrails": {"min_holdout_gain": 2}},
        {"level": "suggest", "guardrails": {"surprise": 1}},
    ):
        response = await client.put(f"{tenant.ws}/autonomy", json=bad, headers=tenant.headers)
        assert response.status_code == 422, bad
    editor = await tenant.member("editor")
    assert (await client.put(f"{tenant.ws}/autonomy", json=settings, headers=editor)).status_code == 403


async def test_workspace_health(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await tenant.api_key()
    health = await client.get(f"{tenant.ws}/health", headers=tenant.headers)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["queue"]["backend"] == "in-process"
    assert body["active_api_keys"] == 1
    assert body["members"] == 1
    assert body["autonomy_level"] == "observe"
