"""Template inference over an agent's stored LLM span prompts, and saving the result as managed
template versions."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant
from integration.agents.traces_factory import BASE, ingest, llm_trace
from spectral.platform.evaluations.models import Objective, Rubric
from spectral.platform.identity.scopes import Scope
from spectral.platform.scans.models import Scan
from spectral.platform.shared.db import Database

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


async def _scan_row(db: Database, tenant: Tenant, agent_id: str, window: dict[str, str]) -> str:
    """A finished scan of the agent with this window (its rubric and objective made by the API)."""
    async with db.session() as session:
        rubric = Rubric(
            workspace_id=tenant.workspace_id,
            name=f"Q {uuid.uuid4().hex[:6]}",
            dimensions=[
                {
                    "key": "ok",
                    "name": "ok",
                    "description": "",
                    "weight": 1.0,
                    "threshold": 1.0,
                    "scorer": {"type": "no_error", "params": {}},
                }
            ],
            created_by="test",
        )
        session.add(rubric)
        await session.flush()
        objective = Objective(
            workspace_id=tenant.workspace_id,
            rubric_id=rubric.id,
            name=f"O {uuid.uuid4().hex[:6]}",
            weights={"quality": 1.0},
            constraints={},
            created_by="test",
        )
        session.add(objective)
        await session.flush()
        scan = Scan(
            workspace_id=tenant.workspace_id,
            agent_id=uuid.UUID(agent_id),
            rubric_id=rubric.id,
            objective_id=objective.id,
            status="succeeded",
            # As a started scan stores its request.
            parameters={
                "agent_id": agent_id,
                "rubric_id": str(rubric.id),
                "objective_id": str(objective.id),
                "window": window,
            },
            created_by="test",
        )
        session.add(scan)
        await session.flush()
        return str(scan.id)


async def test_infers_from_the_traces_a_scan_analysed(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    agent = await _agent(client, tenant)
    early = [
        llm_trace("checker", f"Old question {i}?", "x", system="Old system", index=i)[1] for i in range(20)
    ]
    late = [
        llm_trace("checker", f"Is claim {i} true?", "x", system=SYSTEM, index=100 + i)[1] for i in range(20)
    ]
    await ingest(client, tenant, [span for spans in early + late for span in spans])
    window = {
        "start": (BASE + timedelta(seconds=100)).isoformat(),
        "end": (BASE + timedelta(seconds=200)).isoformat(),
    }
    scan_id = await _scan_row(db, tenant, agent["id"], window)

    url = f"{tenant.ws}/agents/{agent['id']}/infer-template"
    everything = (await client.post(url, json={}, headers=tenant.headers)).json()
    assert everything["prompts_analysed"] == 40
    response = await client.post(url, json={"scan_id": scan_id}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["scan_id"] == scan_id
    assert result["prompts_analysed"] == 20
    assert {t["name"]: t["text"] for t in result["templates"]}["system"] == SYSTEM

    other_agent = await client.post(
        f"{tenant.ws}/agents", json={"name": "O", "slug": "o"}, headers=tenant.headers
    )
    wrong_agent = await client.post(
        f"{tenant.ws}/agents/{other_agent.json()['id']}/infer-template",
        json={"scan_id": scan_id},
        headers=tenant.headers,
    )
    assert wrong_agent.status_code == 400
    assert wrong_agent.json()["type"].endswith("/business-rule-violation")
    missing = await client.post(url, json={"scan_id": str(uuid.uuid4())}, headers=tenant.headers)
    assert missing.status_code == 404
    foreign = await client.post(
        f"{other_tenant.ws}/agents/{agent['id']}/infer-template",
        json={"scan_id": scan_id},
        headers=other_tenant.headers,
    )
    assert foreign.status_code == 404


async def test_reading_needs_read_workspace_and_saving_write_workspace(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent = await _agent(client, tenant)
    await ingest(
        client, tenant, llm_trace("checker", "Check: a", "x")[1] + llm_trace("checker", "Check: b", "y")[1]
    )
    url = f"{tenant.ws}/agents/{agent['id']}/infer-template"
    viewer = await tenant.member("viewer")
    read = await client.post(url, json={}, headers=viewer)
    assert read.status_code == 200, read.text
    assert read.json()["prompts_analysed"] == 2
    save = await client.post(url, json={"save": True}, headers=viewer)
    assert save.status_code == 403
    assert save.headers["content-type"] == "application/problem+json"
    assert save.json()["detail"] == (
        'Missing scope for "save": true: write:workspace (your role in this workspace does not grant it; '
        "ask a workspace admin for a role that does)"
    )
    templates = await client.get(f"{tenant.ws}/agents/{agent['id']}/templates", headers=tenant.headers)
    assert templates.json()["pagination"]["total"] == 0
    editor = await tenant.member("editor")
    assert (await client.post(url, json={"save": True}, headers=editor)).status_code == 200
