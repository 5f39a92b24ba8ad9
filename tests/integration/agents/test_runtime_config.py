"""The runtime config: what an agent fetches with its API key, with a strong ETag and 304s."""

from __future__ import annotations

import httpx
import pytest

from fixtures_identity import Tenant
from spectral.platform.identity.scopes import Scope

pytestmark = pytest.mark.both_backends

CONFIG = {
    "model": "gpt-4o",
    "params": {"temperature": 0.2},
    "templates": {"system": "You are terse.", "user": "{{claim}}"},
    "tools": [],
}


async def test_api_key_fetches_config_with_etag_and_304(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = (
        await client.post(
            f"{tenant.ws}/agents", json={"name": "A", "slug": "a", "config": CONFIG}, headers=tenant.headers
        )
    ).json()
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.READ_AGENTS])}"}
    url = f"{tenant.ws}/agents/{agent['id']}/config"

    first = await client.get(url, headers=key)
    assert first.status_code == 200
    assert first.json() == {"agent_id": agent["id"], "version": 1, **CONFIG}
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert not etag.startswith("W/")
    assert first.headers["cache-control"] == "private, no-cache"

    again = await client.get(url, headers=key)
    assert again.headers["etag"] == etag

    not_modified = await client.get(url, headers={**key, "If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        assert (await client.get(url, headers={**key, "If-None-Match": header})).status_code == 304
    stale = await client.get(url, headers={**key, "If-None-Match": '"stale"'})
    assert stale.status_code == 200

    # A new version changes nothing until it is promoted; then the ETag moves.
    await client.post(
        f"{tenant.ws}/agents/{agent['id']}/versions",
        json={**CONFIG, "model": "gpt-4o-mini"},
        headers=tenant.headers,
    )
    assert (await client.get(url, headers={**key, "If-None-Match": etag})).status_code == 304
    await client.post(f"{tenant.ws}/agents/{agent['id']}/versions/2/promote", headers=tenant.headers)
    changed = await client.get(url, headers={**key, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["model"] == "gpt-4o-mini"
    assert changed.headers["etag"] != etag
    # Back to version 1: the same content gives the same ETag.
    await client.post(f"{tenant.ws}/agents/{agent['id']}/versions/1/promote", headers=tenant.headers)
    assert (await client.get(url, headers={**key, "If-None-Match": etag})).status_code == 304


async def test_key_of_another_workspace_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = (
        await client.post(
            f"{tenant.ws}/agents", json={"name": "A", "slug": "a", "config": CONFIG}, headers=tenant.headers
        )
    ).json()
    foreign_key = {"Authorization": f"Bearer {await other_tenant.api_key([Scope.READ_AGENTS])}"}
    response = await client.get(f"{tenant.ws}/agents/{agent['id']}/config", headers=foreign_key)
    assert response.status_code == 404
    own_workspace = await client.get(f"{other_tenant.ws}/agents/{agent['id']}/config", headers=foreign_key)
    assert own_workspace.status_code == 404
    unauthenticated = await client.get(f"{tenant.ws}/agents/{agent['id']}/config")
    assert unauthenticated.status_code == 401
