"""Agents: CRUD, slugs unique per workspace, tenancy, the replay URL's SSRF guard, and the audit log."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from sqlmodel import select

from fixtures_identity import Tenant
from spectral.platform.identity.scopes import Scope
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings
from spectral.platform.workspaces.models import AuditLogEntry

pytestmark = pytest.mark.both_backends

CONFIG: dict[str, Any] = {
    "model": "gpt-4o",
    "params": {"temperature": 0.2, "max_tokens": 200},
    "templates": {"system": "You are a fact checker.", "user": "Check: {{claim}}"},
    "tools": [{"name": "search", "description": "web search"}],
}


async def create_agent(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    payload = {"name": "Fact checker", "slug": "fact-checker", **body}
    response = await client.post(f"{tenant.ws}/agents", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_get_list_update_delete(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "Fact checker", "slug": "fact-checker", "description": "checks claims"},
        headers=tenant.headers,
    )
    assert response.status_code == 201
    agent = response.json()
    assert response.headers["location"] == f"{tenant.ws}/agents/{agent['id']}"
    assert agent["active_version"] is None
    assert agent["created_by"] == f"user:{tenant.user_id}"

    got = await client.get(f"{tenant.ws}/agents/{agent['id']}", headers=tenant.headers)
    assert got.json() == agent
    listed = await client.get(f"{tenant.ws}/agents", headers=tenant.headers)
    assert listed.json()["pagination"] == {"total": 1, "limit": 20, "offset": 0}

    patched = await client.patch(
        f"{tenant.ws}/agents/{agent['id']}",
        json={"name": "Checker", "description": None},
        headers=tenant.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Checker"
    assert patched.json()["description"] is None
    assert patched.json()["slug"] == "fact-checker"

    deleted = await client.delete(f"{tenant.ws}/agents/{agent['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"{tenant.ws}/agents/{agent['id']}", headers=tenant.headers)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


async def test_slug_is_unique_per_workspace(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await create_agent(client, tenant)
    clash = await client.post(
        f"{tenant.ws}/agents", json={"name": "Again", "slug": "fact-checker"}, headers=tenant.headers
    )
    assert clash.status_code == 409
    assert clash.json()["type"] == "https://spectral.dev/errors/conflict"
    # Another workspace may use the same slug.
    await create_agent(client, other_tenant)
    second = await create_agent(client, tenant, slug="second")
    renamed = await client.patch(
        f"{tenant.ws}/agents/{second['id']}", json={"slug": "fact-checker"}, headers=tenant.headers
    )
    assert renamed.status_code == 409


async def test_validation_errors_point_at_the_field(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "", "slug": "Not A Slug", "config": {"model": "m", "params": {"temperature": 5}}},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    locs = {tuple(err["loc"]) for err in response.json()["errors"]}
    assert ("body", "name") in locs
    assert ("body", "slug") in locs
    assert ("body", "config", "params", "temperature") in locs
    null_name = await client.patch(
        f"{tenant.ws}/agents/{(await create_agent(client, tenant))['id']}",
        json={"name": None},
        headers=tenant.headers,
    )
    assert null_name.status_code == 422
    assert null_name.json()["errors"][0]["loc"] == ["body", "name"]


async def test_another_tenants_agent_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = await create_agent(client, tenant, config=CONFIG)
    foreign = f"{other_tenant.ws}/agents/{agent['id']}"
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/config"),
        ("GET", "/versions"),
        ("GET", "/versions/1"),
        ("GET", "/templates"),
        ("GET", "/templates/system"),
    ]:
        kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
        response = await client.request(method, foreign + path, headers=other_tenant.headers, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
    # And the other tenant cannot reach into the first tenant's workspace at all.
    response = await client.get(f"{tenant.ws}/agents/{agent['id']}", headers=other_tenant.headers)
    assert response.status_code == 404


async def test_api_key_reads_agents_but_cannot_change_them(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await create_agent(client, tenant, config=CONFIG)
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.READ_AGENTS])}"}
    assert (await client.get(f"{tenant.ws}/agents", headers=key)).status_code == 200
    assert (await client.get(f"{tenant.ws}/agents/{agent['id']}", headers=key)).status_code == 200
    assert (await client.get(f"{tenant.ws}/agents/{agent['id']}/versions/1", headers=key)).status_code == 200
    forbidden = [
        await client.post(f"{tenant.ws}/agents", json={"name": "x", "slug": "x"}, headers=key),
        await client.patch(f"{tenant.ws}/agents/{agent['id']}", json={"name": "x"}, headers=key),
        await client.delete(f"{tenant.ws}/agents/{agent['id']}", headers=key),
        await client.post(f"{tenant.ws}/agents/{agent['id']}/versions", json=CONFIG, headers=key),
        await client.post(f"{tenant.ws}/agents/{agent['id']}/versions/1/promote", headers=key),
        await client.put(
            f"{tenant.ws}/agents/{agent['id']}/templates/system", json={"text": "x"}, headers=key
        ),
    ]
    assert [r.status_code for r in forbidden] == [403] * len(forbidden)
    traces_only = {"Authorization": f"Bearer {await tenant.api_key([Scope.WRITE_TRACES])}"}
    denied = await client.get(f"{tenant.ws}/agents/{agent['id']}/config", headers=traces_only)
    assert denied.status_code == 403
    assert "read:agents" in denied.json()["detail"]


async def test_mutations_are_audited(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    agent = await create_agent(client, tenant, config=CONFIG)
    await client.patch(f"{tenant.ws}/agents/{agent['id']}", json={"name": "Renamed"}, headers=tenant.headers)
    await client.delete(f"{tenant.ws}/agents/{agent['id']}", headers=tenant.headers)
    async with db.session() as session:
        rows = (
            await session.exec(select(AuditLogEntry).where(AuditLogEntry.workspace_id == tenant.workspace_id))
        ).all()
    actions = [row.action for row in rows if row.resource_id == agent["id"]]
    assert {"agent.create", "agent.version.create", "agent.update", "agent.delete"} <= set(actions)
    update = next(row for row in rows if row.action == "agent.update")
    assert update.before is not None
    assert update.before["name"] == "Fact checker"
    assert update.after is not None
    assert update.after["name"] == "Renamed"
    assert update.actor == f"user:{tenant.user_id}"


# --- the replay URL's SSRF guard ------------------------------------------------------------------


@pytest.fixture
def guarded(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Production behaviour: private targets refused (the test settings allow them)."""
    monkeypatch.setattr(settings, "replay_allow_private", False)
    return settings


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/replay",
        "http://10.1.2.3/replay",
        "http://192.168.0.10/replay",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/replay",
        "http://[::ffff:127.0.0.1]/replay",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://[2002:7f00:1::1]/replay",
        "http://[::10.0.0.1]/replay",
        "http://0.0.0.0/replay",
        "http://localhost:9000/replay",
        "ftp://example.com/replay",
        "not a url",
    ],
)
async def test_replay_url_refuses_private_targets(
    client: httpx.AsyncClient, tenant: Tenant, guarded: Settings, url: str
) -> None:
    response = await client.post(
        f"{tenant.ws}/agents", json={"name": "a", "slug": "a", "replay_url": url}, headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "replay_url"]


async def test_replay_url_resolves_host_names(
    client: httpx.AsyncClient, tenant: Tenant, guarded: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved = {"internal.example.com": "10.0.0.7", "public.example.com": "93.184.215.14"}

    def fake_getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in resolved:
            raise socket.gaierror("unknown host")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (resolved[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    internal = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "a", "slug": "a", "replay_url": "https://internal.example.com/replay"},
        headers=tenant.headers,
    )
    assert internal.status_code == 422
    assert "10.0.0.7" in internal.json()["errors"][0]["msg"]
    unknown = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "a", "slug": "a", "replay_url": "https://nowhere.example.com/replay"},
        headers=tenant.headers,
    )
    assert unknown.status_code == 422
    public = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "a", "slug": "a", "replay_url": "https://public.example.com/replay"},
        headers=tenant.headers,
    )
    assert public.status_code == 201
    patched = await client.patch(
        f"{tenant.ws}/agents/{public.json()['id']}",
        json={"replay_url": "https://internal.example.com/x"},
        headers=tenant.headers,
    )
    assert patched.status_code == 422


async def test_private_replay_url_allowed_when_configured(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await create_agent(client, tenant, replay_url="http://127.0.0.1:8765/replay")
    assert agent["replay_url"] == "http://127.0.0.1:8765/replay"
    cleared = await client.patch(
        f"{tenant.ws}/agents/{agent['id']}", json={"replay_url": None}, headers=tenant.headers
    )
    assert cleared.json()["replay_url"] is None
