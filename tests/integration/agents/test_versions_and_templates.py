"""Config versions are immutable and numbered, one is active, promote needs approve:agents; managed
templates get a new immutable version per change and rendering checks declared variables."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant
from spectral.engine.types import AgentConfig
from spectral.platform.agents import service
from spectral.platform.agents.templating import MAX_RENDERED_CHARS
from spectral.platform.identity.principal import Principal
from spectral.platform.identity.scopes import Scope, WorkspaceRole
from spectral.platform.shared.db import Database
from spectral.platform.shared.errors import ValidationFailedError

pytestmark = pytest.mark.both_backends

CONFIG: dict[str, Any] = {
    "model": "gpt-4o",
    "params": {"temperature": 0.2, "max_tokens": 200},
    "templates": {"system": "You are a fact checker.", "user": "Check: {{claim}}"},
    "tools": [{"name": "search"}],
}


async def agent_with_config(client: httpx.AsyncClient, tenant: Tenant) -> str:
    response = await client.post(
        f"{tenant.ws}/agents", json={"name": "FC", "slug": "fc", "config": CONFIG}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    agent_id: str = response.json()["id"]
    return agent_id


async def test_config_on_create_is_version_one_and_active(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent_id = await agent_with_config(client, tenant)
    agent = (await client.get(f"{tenant.ws}/agents/{agent_id}", headers=tenant.headers)).json()
    assert agent["active_version"] == 1
    version = (await client.get(f"{tenant.ws}/agents/{agent_id}/versions/1", headers=tenant.headers)).json()
    assert version["active"] is True
    assert version["config"] == CONFIG
    assert version["template_versions"] == {"system": 1, "user": 1}
    templates = (await client.get(f"{tenant.ws}/agents/{agent_id}/templates", headers=tenant.headers)).json()
    assert {t["name"]: t["text"] for t in templates["results"]} == CONFIG["templates"]
    assert next(t for t in templates["results"] if t["name"] == "user")["variables"] == ["claim"]


async def test_new_versions_wait_for_promote_by_an_approver(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent_id = await agent_with_config(client, tenant)
    changed = {
        **CONFIG,
        "params": {"temperature": 0.0, "max_tokens": 400},
        "templates": {**CONFIG["templates"], "system": "Be strict."},
    }
    created = await client.post(
        f"{tenant.ws}/agents/{agent_id}/versions",
        json={**changed, "note": "stricter"},
        headers=tenant.headers,
    )
    assert created.status_code == 201
    assert created.headers["location"].endswith(f"/agents/{agent_id}/versions/2")
    v2 = created.json()
    assert (v2["number"], v2["active"], v2["note"]) == (2, False, "stricter")
    # The unchanged user template is pinned at its existing version; system got a new one.
    assert v2["template_versions"] == {"system": 2, "user": 1}

    runtime = await client.get(f"{tenant.ws}/agents/{agent_id}/config", headers=tenant.headers)
    assert runtime.json()["version"] == 1

    editor = await tenant.member(WorkspaceRole.EDITOR)
    denied = await client.post(f"{tenant.ws}/agents/{agent_id}/versions/2/promote", headers=editor)
    assert denied.status_code == 403
    assert "approve:agents" in denied.json()["detail"]

    approver = await tenant.member(WorkspaceRole.APPROVER)
    promoted = await client.post(f"{tenant.ws}/agents/{agent_id}/versions/2/promote", headers=approver)
    assert promoted.status_code == 200
    assert promoted.json()["active"] is True
    runtime = (await client.get(f"{tenant.ws}/agents/{agent_id}/config", headers=tenant.headers)).json()
    assert runtime["version"] == 2
    assert runtime["templates"]["system"] == "Be strict."
    assert runtime["params"] == {"temperature": 0.0, "max_tokens": 400}

    # Rolling back is promoting the old version; v1 still holds exactly what it held.
    await client.post(f"{tenant.ws}/agents/{agent_id}/versions/1/promote", headers=tenant.headers)
    v1 = (await client.get(f"{tenant.ws}/agents/{agent_id}/versions/1", headers=tenant.headers)).json()
    assert v1["active"] is True
    assert v1["config"] == CONFIG
    listed = (await client.get(f"{tenant.ws}/agents/{agent_id}/versions", headers=tenant.headers)).json()
    assert [v["number"] for v in listed["results"]] == [2, 1]
    missing = await client.post(f"{tenant.ws}/agents/{agent_id}/versions/9/promote", headers=tenant.headers)
    assert missing.status_code == 404


async def test_versions_are_immutable(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent_id = await agent_with_config(client, tenant)
    path = f"{tenant.ws}/agents/{agent_id}/versions/1"
    for method in ("PUT", "PATCH", "DELETE"):
        response = await client.request(method, path, json=CONFIG, headers=tenant.headers)
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"
    # Editing a template the version pins does not change the version.
    await client.put(
        f"{tenant.ws}/agents/{agent_id}/templates/system", json={"text": "Rewritten."}, headers=tenant.headers
    )
    v1 = (await client.get(path, headers=tenant.headers)).json()
    assert v1["config"]["templates"]["system"] == "You are a fact checker."


async def test_first_version_of_an_agent_without_config_is_active(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent = (
        await client.post(f"{tenant.ws}/agents", json={"name": "A", "slug": "a"}, headers=tenant.headers)
    ).json()
    no_config = await client.get(f"{tenant.ws}/agents/{agent['id']}/config", headers=tenant.headers)
    assert no_config.status_code == 404
    assert no_config.json()["type"] == "https://spectral.dev/errors/no-active-config"
    created = await client.post(
        f"{tenant.ws}/agents/{agent['id']}/versions", json={"model": "m"}, headers=tenant.headers
    )
    assert created.json()["active"] is True
    assert created.json()["config"] == {"model": "m", "params": {}, "templates": {}, "tools": []}


async def test_version_validation_errors(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent_id = await agent_with_config(client, tenant)
    response = await client.post(
        f"{tenant.ws}/agents/{agent_id}/versions",
        json={"model": "", "params": {"max_tokens": 0}, "templates": {"bad name": "x"}, "unknown": 1},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    locs = {tuple(err["loc"]) for err in response.json()["errors"]}
    assert ("body", "model") in locs
    assert ("body", "params", "max_tokens") in locs
    assert ("body", "unknown") in locs
    assert any(loc[:2] == ("body", "templates") for loc in locs)


async def test_templates_version_on_every_change(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent_id = await agent_with_config(client, tenant)
    base = f"{tenant.ws}/agents/{agent_id}/templates"
    created = await client.post(
        base, json={"name": "summary", "text": "Summarise {{doc}} for {{ audience }}"}, headers=tenant.headers
    )
    assert created.status_code == 201
    assert created.headers["location"].endswith("/templates/summary")
    assert created.json()["variables"] == ["doc", "audience"]
    again = await client.post(base, json={"name": "summary", "text": "x"}, headers=tenant.headers)
    assert again.status_code == 409

    v2 = await client.put(
        f"{base}/summary", json={"text": "Summarise {{doc}} briefly"}, headers=tenant.headers
    )
    assert v2.json()["version"] == 2
    unchanged = await client.put(
        f"{base}/summary", json={"text": "Summarise {{doc}} briefly"}, headers=tenant.headers
    )
    assert unchanged.json()["version"] == 2
    versions = (await client.get(f"{base}/summary/versions", headers=tenant.headers)).json()
    assert [(v["version"], v["source"]) for v in versions["results"]] == [(2, "manual"), (1, "manual")]
    assert versions["results"][1]["text"] == "Summarise {{doc}} for {{ audience }}"
    upserted = await client.put(f"{base}/fresh", json={"text": "new"}, headers=tenant.headers)
    assert upserted.json()["version"] == 1
    assert (await client.get(f"{base}/missing", headers=tenant.headers)).status_code == 404
    assert (await client.get(f"{base}/missing/versions", headers=tenant.headers)).status_code == 404


async def test_render_checks_declared_variables(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent_id = await agent_with_config(client, tenant)
    base = f"{tenant.ws}/agents/{agent_id}/templates"
    await client.put(f"{base}/user", json={"text": "Check {{claim}} from {{source}}"}, headers=tenant.headers)
    rendered = await client.post(
        f"{base}/user/render",
        json={"variables": {"claim": "the sky is green", "source": "a blog"}},
        headers=tenant.headers,
    )
    assert rendered.json() == {"name": "user", "version": 2, "text": "Check the sky is green from a blog"}
    old = await client.post(
        f"{base}/user/render", json={"variables": {"claim": "c"}, "version": 1}, headers=tenant.headers
    )
    assert old.json()["text"] == "Check: c"
    missing = await client.post(
        f"{base}/user/render", json={"variables": {"claim": "c"}}, headers=tenant.headers
    )
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {
            "loc": ["body", "variables", "source"],
            "msg": "declared by the template but missing",
            "type": "missing",
        }
    ]
    no_version = await client.post(f"{base}/user/render", json={"version": 7}, headers=tenant.headers)
    assert no_version.status_code == 404


async def test_render_refuses_a_text_too_long_to_build(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """A read:agents key used to turn a 300-character variable and a slot repeated 20,000 times
    into a 6 MB answer (and 200 KB into 4 GB of server memory)."""
    agent_id = await agent_with_config(client, tenant)
    base = f"{tenant.ws}/agents/{agent_id}/templates"
    await client.put(f"{base}/user", json={"text": "{{claim}}" * 10_000}, headers=tenant.headers)
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.READ_AGENTS])}"}
    refused = await client.post(f"{base}/user/render", json={"variables": {"claim": "x" * 600}}, headers=key)
    assert refused.status_code == 422, refused.text[:300]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [
        {
            "loc": ["body", "variables"],
            "msg": f"the rendered text would be 6,000,000 characters, over the limit of {MAX_RENDERED_CHARS:,}",
            "type": "too_long",
        }
    ]
    fits = await client.post(f"{base}/user/render", json={"variables": {"claim": "x" * 400}}, headers=key)
    assert fits.status_code == 200
    assert len(fits.json()["text"]) == 4_000_000


async def test_scan_facing_service_functions(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    agent_id = await agent_with_config(client, tenant)
    principal = Principal.supervisor(tenant.workspace_id, tenant.account_id)
    agent_uuid = uuid.UUID(agent_id)
    async with db.session() as session:
        active = await service.active_config(session, tenant.workspace_id, agent_uuid)
        assert active == AgentConfig.from_dict(CONFIG)
        candidate = AgentConfig.from_dict({**CONFIG, "model": "gpt-4o-mini"})
        created = await service.create_version_from_config(
            session, principal, agent_uuid, candidate, note="change set 1"
        )
        assert (created.number, created.active) == (2, False)
        assert await service.version_config(session, tenant.workspace_id, agent_uuid, 2) == candidate
        await service.promote(session, principal, agent_uuid, 2)
        assert await service.active_config(session, tenant.workspace_id, agent_uuid) == candidate
        with pytest.raises(ValidationFailedError) as invalid:
            await service.create_version_from_config(
                session, principal, agent_uuid, AgentConfig(model="m", params={"temperature": 9}), note="bad"
            )
        assert invalid.value.errors[0]["loc"] == ["config", "params", "temperature"]
