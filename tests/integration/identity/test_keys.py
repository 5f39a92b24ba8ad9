"""Keys: sk_live_ keys are shown once, stored hashed, workspace-bound and revoked at once."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlmodel import select

from fixtures_identity import Tenant, bearer
from spectral.platform.identity.models import ApiKey
from spectral.platform.shared.db import Database

pytestmark = pytest.mark.both_backends


async def test_key_is_returned_once_and_stored_as_a_hash(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    created = await client.post(f"{tenant.ws}/keys", json={"name": "ci"}, headers=tenant.headers)
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith("sk_live_")
    assert len(key) >= len("sk_live_") + 43
    assert key.startswith(body["prefix"])
    assert len(body["prefix"]) < 20
    assert sorted(body["scopes"]) == ["read:agents", "write:traces"]
    assert created.headers["location"].endswith(body["key_id"])
    listed = await client.get(f"{tenant.ws}/keys", headers=tenant.headers)
    assert listed.json()["pagination"]["total"] == 1
    assert key not in listed.text
    assert "key_hash" not in listed.text
    async with db.session() as session:
        row = (await session.exec(select(ApiKey))).one()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()


async def test_keys_cannot_carry_user_scopes(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        f"{tenant.ws}/keys", json={"name": "too much", "scopes": ["admin:workspace"]}, headers=tenant.headers
    )
    assert response.status_code == 422


async def test_revoked_key_is_401_on_the_next_request(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await tenant.api_key()
    created = (await client.get(f"{tenant.ws}/keys", headers=tenant.headers)).json()["results"][0]
    # A key cannot manage keys: that needs a user with admin:workspace.
    assert (await client.get(f"{tenant.ws}/keys", headers=bearer(key))).status_code == 403
    assert (
        await client.delete(f"{tenant.ws}/keys/{created['id']}", headers=tenant.headers)
    ).status_code == 204
    response = await client.get(f"{tenant.ws}/keys", headers=bearer(key))
    assert response.status_code == 401
    assert "create a new one (POST /api/v1/workspaces/{workspace_id}/keys)" in response.json()["detail"]
    assert (
        await client.delete(f"{tenant.ws}/keys/{created['id']}", headers=tenant.headers)
    ).status_code == 404


async def test_another_tenants_keys_are_404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await client.get(f"{other_tenant.ws}/keys", headers=tenant.headers)
    assert response.status_code == 404
