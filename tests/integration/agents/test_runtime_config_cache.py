"""The runtime config read's per-process caches and its direct path (`spectral_api.hot_path`).

In one process (the embedded default) every write is seen by the next read; the direct path
answers exactly what the ordinary stack answers, errors included."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from fixtures_identity import Tenant
from spectral.platform.identity.scopes import Scope
from spectral.platform.shared.settings import Settings
from spectral_api.app import create_app
from spectral_api.hot_path import RuntimeConfigPath
from spectral_api.state import AppState

pytestmark = pytest.mark.both_backends

CONFIG = {"model": "gpt-4o", "params": {}, "templates": {"system": "You are terse."}, "tools": []}


async def _agent(tenant: Tenant, config: dict[str, object] | None = CONFIG, slug: str = "a") -> str:
    body: dict[str, object] = {"name": slug, "slug": slug}
    if config is not None:
        body["config"] = config
    response = await tenant.client.post(f"{tenant.ws}/agents", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    agent_id: str = response.json()["id"]
    return agent_id


async def test_every_write_is_seen_by_the_next_read(
    client: httpx.AsyncClient, tenant: Tenant, backend: str
) -> None:
    agent_id = await _agent(tenant)
    key_id_and_key = await client.post(
        f"{tenant.ws}/keys", json={"name": "runtime", "scopes": ["read:agents"]}, headers=tenant.headers
    )
    key = {"Authorization": f"Bearer {key_id_and_key.json()['key']}"}
    url = f"{tenant.ws}/agents/{agent_id}/config"
    first = await client.get(url, headers=key)
    assert first.status_code == 200
    assert (await client.get(url, headers=key)).headers["etag"] == first.headers["etag"]
    if backend == "sqlite":  # one process: trusted at once; PostgreSQL needs its listener running
        assert len(tenant.state.key_cache) == 1
        assert len(tenant.state.runtime_cache) == 1

    await client.post(
        f"{tenant.ws}/agents/{agent_id}/versions",
        json={**CONFIG, "model": "gpt-4o-mini"},
        headers=tenant.headers,
    )
    promote = await client.post(f"{url.removesuffix('/config')}/versions/2/promote", headers=tenant.headers)
    assert promote.status_code == 200
    promoted = await client.get(url, headers=key)
    assert promoted.json()["version"] == 2
    assert promoted.json()["model"] == "gpt-4o-mini"
    assert promoted.headers["etag"] != first.headers["etag"]

    await client.post(f"{url.removesuffix('/config')}/versions/1/promote", headers=tenant.headers)
    rolled_back = await client.get(url, headers=key)
    assert rolled_back.json()["version"] == 1
    assert rolled_back.headers["etag"] == first.headers["etag"]

    revoke = await client.delete(
        f"{tenant.ws}/keys/{key_id_and_key.json()['key_id']}", headers=tenant.headers
    )
    assert revoke.status_code == 204
    refused = await client.get(url, headers=key)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"


async def test_a_deleted_agent_and_a_deleted_workspace_are_not_served(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent_id = await _agent(tenant)
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.READ_AGENTS])}"}
    url = f"{tenant.ws}/agents/{agent_id}/config"
    assert (await client.get(url, headers=key)).status_code == 200
    assert (await client.delete(url.removesuffix("/config"), headers=tenant.headers)).status_code == 204
    assert (await client.get(url, headers=key)).status_code == 404

    other_id = await _agent(tenant, slug="b")
    other_url = f"{tenant.ws}/agents/{other_id}/config"
    assert (await client.get(other_url, headers=key)).status_code == 200
    assert (await client.delete(tenant.ws, headers=tenant.headers)).status_code == 204
    assert (await client.get(other_url, headers=key)).status_code == 401


@pytest.fixture
async def ordinary_client(settings: Settings, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The same app state served without the direct path: the ordinary router and dependencies."""
    state: AppState = app.state.spectral
    ordinary = create_app(settings, state=state)
    ordinary.user_middleware = [m for m in ordinary.user_middleware if m.cls is not RuntimeConfigPath]
    transport = httpx.ASGITransport(app=ordinary, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def _comparable(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {name: value for name, value in response.headers.items() if name != "x-request-id"}
    assert response.headers["x-request-id"]
    return response.status_code, response.content, headers


async def test_the_direct_path_answers_what_the_ordinary_stack_answers(
    client: httpx.AsyncClient, ordinary_client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent_id = await _agent(tenant)
    unconfigured = await _agent(tenant, config=None, slug="empty")
    theirs = await _agent(other_tenant, slug="theirs")
    read_key = {"Authorization": f"Bearer {await tenant.api_key([Scope.READ_AGENTS])}"}
    write_only = {"Authorization": f"Bearer {await tenant.api_key([Scope.WRITE_TRACES])}"}
    url = f"{tenant.ws}/agents/{agent_id}/config"
    etag = (await client.get(url, headers=read_key)).headers["etag"]
    cases: list[tuple[str, dict[str, str], int]] = [
        (url, read_key, 200),
        (url, tenant.headers, 200),
        (url, {**read_key, "If-None-Match": etag}, 304),
        (url, {**read_key, "If-None-Match": f'W/{etag}, "other"'}, 304),
        (url, {**read_key, "If-None-Match": '"stale"'}, 200),
        (url, {**read_key, "X-Request-Id": "given-id-1"}, 200),
        (url, {}, 401),
        (url, {"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        (url, {"Authorization": "Bearer sk_live_not_a_key"}, 401),
        (url, {"Authorization": "Bearer not-a-jwt"}, 401),
        (url, write_only, 403),
        (url, {**read_key, "X-Workspace-Id": str(other_tenant.workspace_id)}, 400),
        (url, {**read_key, "X-Workspace-Id": "not-a-uuid"}, 400),
        (f"{tenant.ws}/agents/{unconfigured}/config", read_key, 404),
        (f"{tenant.ws}/agents/{uuid.uuid4()}/config", read_key, 404),
        (f"{tenant.ws}/agents/{theirs}/config", read_key, 404),
        (f"{other_tenant.ws}/agents/{theirs}/config", read_key, 404),
        (f"{tenant.ws}/agents/not-a-uuid/config", read_key, 422),
        (f"/api/v1/workspaces/not-a-uuid/agents/{agent_id}/config", read_key, 404),
    ]
    for path, headers, status in cases:
        direct = await client.get(path, headers=headers)
        ordinary = await ordinary_client.get(path, headers=headers)
        assert direct.status_code == status, (path, headers, direct.text)
        assert _comparable(direct) == _comparable(ordinary), (path, headers)
    echoed = await client.get(url, headers={**read_key, "X-Request-Id": "given-id-2"})
    assert echoed.headers["x-request-id"] == "given-id-2"


async def test_the_direct_path_is_counted_under_its_route(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent_id = await _agent(tenant)
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.READ_AGENTS])}"}
    assert (await client.get(f"{tenant.ws}/agents/{agent_id}/config", headers=key)).status_code == 200
    exposition = (await client.get("/metrics")).text
    route = "/api/v1/workspaces/{workspace_id}/agents/{agent_id}/config"
    assert any(
        line.startswith("spectral_http_requests_total")
        and f'route="{route}"' in line
        and 'status="200"' in line
        for line in exposition.splitlines()
    ), exposition
