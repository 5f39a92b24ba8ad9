"""Template inference over an agent's stored LLM span prompts, and saving the result as managed
template versions."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant
from integration.agents.traces_factory import ingest, llm_trace
from spectral.platform.identity.scopes import Scope

pytestmark = pytest.mark.both_backends

SYSTEM = "You are a careful fact checker. Answer in JSON."
DOMAINS = ["example.org", "acme.io"]
TOPICS = ["the moon", "coffee", "bats", "lightning", "goldfish", "the great wall", "vaccines", "sea water"]


async def _agent(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.post(
        f"{tenant.ws}/agents", json={"name": "Checker", "slug": "checker"}, headers=tenant.headers
    )
    assert response.status_code == 201
    agent: dict[str, Any] = response.json()
    return agent


async def test_infers_and_saves_the_template(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await _agent(client, tenant)
    rng = random.Random(4)
    spans: list[dict[str, Any]] = []
    for index in range(80):
        user = (
            f"Ticket {uuid.UUID(int=rng.getrandbits(128))} from user{rng.randint(1, 99)}@{rng.choice(DOMAINS)}:\n"
            f"Is it true that {rng.choice(TOPICS)} {rng.choice(['glows', 'is blind', 'causes harm'])}?"
        )
        spans.extend(llm_trace("checker", user, '{"verdict": false}', system=SYSTEM, index=index)[1])
    # Another agent's prompts must not be mixed in.
    spans.extend(llm_trace("other-agent", "unrelated prompt", "x", system="Other system")[1])
    await ingest(client, tenant, spans)

    url = f"{tenant.ws}/agents/{agent['id']}/infer-template"
    response = await client.post(url, json={}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["prompts_analysed"] == 80
    by_name = {t["name"]: t for t in result["templates"]}
    assert by_name["system"]["text"] == SYSTEM
    assert by_name["system"]["coverage"] == 1.0
    user = by_name["user"]
    assert user["text"] == "Ticket {{id}} from {{email}}:\nIs it true that {{slot_3}}?"
    assert user["coverage"] == 1.0
    assert [s["kind"] for s in user["slots"]] == ["id", "email", None]
    assert all(s["examples"] for s in user["slots"])
    assert user["saved_version"] is None
    # Deterministic.
    assert (await client.post(url, json={}, headers=tenant.headers)).json() == result

    saved = await client.post(url, json={"save": True}, headers=tenant.headers)
    assert {t["name"]: t["saved_version"] for t in saved.json()["templates"]} == {"system": 1, "user": 1}
    versions = await client.get(
        f"{tenant.ws}/agents/{agent['id']}/templates/user/versions", headers=tenant.headers
    )
    assert versions.json()["results"][0]["source"] == "inference"
    assert versions.json()["results"][0]["variables"] == ["id", "email", "slot_3"]


async def test_span_name_filter_and_no_prompts(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await _agent(client, tenant)
    url = f"{tenant.ws}/agents/{agent['id']}/infer-template"
    empty = await client.post(url, json={}, headers=tenant.headers)
    assert empty.status_code == 200
    assert (empty.json()["prompts_analysed"], empty.json()["templates"]) == (0, [])
    await ingest(
        client, tenant, llm_trace("checker", "Check: a", "x")[1] + llm_trace("checker", "Check: b", "y")[1]
    )
    other_name = await client.post(url, json={"span_name": "summarise"}, headers=tenant.headers)
    assert other_name.json()["prompts_analysed"] == 0
    assert (await client.post(url, json={"span_name": "chat"}, headers=tenant.headers)).json()[
        "prompts_analysed"
    ] == 2


async def test_errors_and_access(client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    agent = await _agent(client, tenant)
    url = f"{tenant.ws}/agents/{agent['id']}/infer-template"
    invalid = await client.post(url, json={"limit": 1, "unknown": True}, headers=tenant.headers)
    assert invalid.status_code == 422
    assert {tuple(e["loc"]) for e in invalid.json()["errors"]} == {("body", "limit"), ("body", "unknown")}
    foreign = await client.post(
        f"{other_tenant.ws}/agents/{agent['id']}/infer-template", json={}, headers=other_tenant.headers
    )
    assert foreign.status_code == 404
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.READ_AGENTS])}"}
    assert (await client.post(url, json={}, headers=key)).status_code == 403
