"""Rubric generation from an agent's traces (no LLM) and blind-spot suggestions for a rubric."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant
from integration.agents.traces_factory import ingest, llm_trace, thumbs_down, thumbs_up

pytestmark = pytest.mark.both_backends


async def _agent(client: httpx.AsyncClient, tenant: Tenant, slug: str = "checker") -> dict[str, Any]:
    response = await client.post(
        f"{tenant.ws}/agents", json={"name": "Checker", "slug": slug}, headers=tenant.headers
    )
    assert response.status_code == 201
    agent: dict[str, Any] = response.json()
    return agent


async def _workload(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, list[str]]:
    """40 JSON-answering traces: some call a tool (3 fail), 4 truncated, 2 errors, feedback on 10."""
    spans: list[dict[str, Any]] = []
    ids: dict[str, list[str]] = {"tool_failed": [], "truncated": [], "error": [], "plain": []}
    for i in range(40):
        kwargs: dict[str, Any] = {"index": i, "latency_ms": 500 + 25 * i}
        kind = "plain"
        if i < 3:
            kwargs["tool"], kind = ("search", "search backend timed out"), "tool_failed"
        elif i < 15:
            kwargs["tool"] = ("search", None)
        elif i < 19:
            kwargs["finish_reason"], kind = "length", "truncated"
        elif i < 21:
            kwargs["error"], kind = "upstream 500", "error"
        trace_id, trace_spans = llm_trace("checker", f"Check claim {i}", '{"verdict": true}', **kwargs)
        ids[kind].append(trace_id)
        spans.extend(trace_spans)
    await ingest(client, tenant, spans)
    for trace_id in ids["plain"][:5]:
        await thumbs_down(client, tenant, trace_id)
    for trace_id in ids["plain"][5:10]:
        await thumbs_up(client, tenant, trace_id)
    return ids


async def test_generate_drafts_dimensions_from_evidence(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await _agent(client, tenant)
    await _workload(client, tenant)
    url = f"{tenant.ws}/evaluations/rubrics/generate"
    response = await client.post(url, json={"agent_id": agent["id"]}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    draft = response.json()
    assert draft["traces_analysed"] == 40
    assert draft["rubric"] is None
    by_key = {d["key"]: d for d in draft["dimensions"]}
    assert {"json_output", "no_error", "tool_success", "not_truncated", "user_feedback", "latency"} <= set(
        by_key
    )
    assert all(d["scorer"]["type"] != "llm_judge" for d in draft["dimensions"])
    assert by_key["json_output"]["scorer"]["type"] == "json_valid"
    assert by_key["user_feedback"]["threshold"] == 0.5
    # Latency from the observed percentiles: p95 of 500..1475 ms (1426) plus the default +10% latency
    # guardrail, rounded up to 2 significant digits.
    assert by_key["latency"]["scorer"]["params"]["max_ms"] == 1600
    evidence = {e["key"]: e for e in draft["evidence"]}
    assert evidence["tool_success"]["observed"]["traces_with_tools"] == 15
    assert evidence["not_truncated"]["observed"]["truncated_share"] == 0.1

    assert evidence["latency"]["observed"]["allowance_pct"] == 10
    # The allowance is the workspace's guardrail.
    autonomy = {
        "level": "suggest",
        "guardrails": {"max_latency_increase_pct": 50, "max_cost_increase_pct": 0},
    }
    assert (
        await client.put(f"{tenant.ws}/autonomy", json=autonomy, headers=tenant.headers)
    ).status_code == 200
    wider = (await client.post(url, json={"agent_id": agent["id"]}, headers=tenant.headers)).json()
    assert {d["key"]: d for d in wider["dimensions"]}["latency"]["scorer"]["params"]["max_ms"] == 2200

    saved = await client.post(
        url, json={"agent_id": agent["id"], "save": True, "name": "Drafted"}, headers=tenant.headers
    )
    rubric = saved.json()["rubric"]
    assert rubric["name"] == "Drafted"
    assert rubric["agent_id"] == agent["id"]
    assert rubric["dimensions"] == wider["dimensions"]
    again = await client.post(
        url, json={"agent_id": agent["id"], "save": True, "name": "Drafted"}, headers=tenant.headers
    )
    assert again.status_code == 409


async def test_generate_needs_traces_and_a_known_agent(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = await _agent(client, tenant)
    url = f"{tenant.ws}/evaluations/rubrics/generate"
    no_traces = await client.post(url, json={"agent_id": agent["id"]}, headers=tenant.headers)
    assert no_traces.status_code == 400
    assert "no traces" in no_traces.json()["detail"]
    foreign = await client.post(
        f"{other_tenant.ws}/evaluations/rubrics/generate",
        json={"agent_id": agent["id"]},
        headers=other_tenant.headers,
    )
    assert foreign.status_code == 404


async def test_suggestions_find_what_the_rubric_misses(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await _agent(client, tenant)
    ids = await _workload(client, tenant)
    created = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={
            "name": "JSON only",
            "agent_id": agent["id"],
            "dimensions": [{"key": "json_output", "scorer": {"type": "json_valid"}}],
        },
        headers=tenant.headers,
    )
    rubric = created.json()
    response = await client.get(
        f"{tenant.ws}/evaluations/rubrics/{rubric['id']}/suggestions", headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["traces_analysed"] == 40
    # 5 thumbs-down, 3 failed tools and 2 errors: all valid JSON, so the rubric passes them.
    assert body["blind_spots"] == 10
    groups = body["suggestions"]
    by_cause: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        by_cause.setdefault(group["signature"]["cause"], []).append(group)
    negative = by_cause["negative_feedback"]
    assert sum(g["trace_count"] for g in negative) == 5
    assert negative[0]["proposed_dimension"]["scorer"]["type"] == "feedback"
    errors = by_cause["error"]
    assert sum(g["trace_count"] for g in errors) == 5
    proposed_types = {g["proposed_dimension"]["scorer"]["type"] for g in errors}
    assert proposed_types == {"tool_success", "no_error"}
    tool_group = next(g for g in errors if g["proposed_dimension"]["scorer"]["type"] == "tool_success")
    assert set(tool_group["example_trace_ids"]) == set(ids["tool_failed"])
    assert groups == sorted(groups, key=lambda g: -g["trace_count"])

    # Once the rubric scores feedback and errors, those blind spots are gone.
    await client.patch(
        f"{tenant.ws}/evaluations/rubrics/{rubric['id']}",
        json={
            "dimensions": [
                {"key": "json_output", "scorer": {"type": "json_valid"}},
                {"key": "no_error", "scorer": {"type": "no_error"}},
                {"key": "tools", "scorer": {"type": "tool_success"}},
                {"key": "feedback", "threshold": 0.5, "scorer": {"type": "feedback"}},
            ]
        },
        headers=tenant.headers,
    )
    covered = await client.get(
        f"{tenant.ws}/evaluations/rubrics/{rubric['id']}/suggestions", headers=tenant.headers
    )
    assert covered.json()["blind_spots"] == 0
    assert covered.json()["suggestions"] == []


async def test_suggestions_of_a_rubric_without_an_agent_read_the_workspace(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": "Free", "dimensions": [{"key": "json_output", "scorer": {"type": "json_valid"}}]},
        headers=tenant.headers,
    )
    url = f"{tenant.ws}/evaluations/rubrics/{created.json()['id']}/suggestions"
    empty = await client.get(url, headers=tenant.headers)
    assert empty.status_code == 200, empty.text
    assert empty.json()["traces_analysed"] == 0
    assert empty.json()["agent_id"] is None
    agent = await _agent(client, tenant)
    await _workload(client, tenant)
    _, other_spans = llm_trace("someone-else", "Check claim x", "not json", index=99)
    await ingest(client, tenant, other_spans)
    workspace = await client.get(url, headers=tenant.headers)
    assert workspace.status_code == 200, workspace.text
    body = workspace.json()
    assert body["agent_id"] is None
    assert body["traces_analysed"] == 41
    assert body["blind_spots"] == 10
    named = await client.get(url, params={"agent_id": agent["id"]}, headers=tenant.headers)
    assert named.status_code == 200
    assert named.json()["agent_id"] == agent["id"]
    assert named.json()["traces_analysed"] == 40
    missing = await client.get(url, params={"agent_id": str(uuid.uuid4())}, headers=tenant.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_generate_with_save_is_a_create_with_location(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent = await _agent(client, tenant)
    await _workload(client, tenant)
    url = f"{tenant.ws}/evaluations/rubrics/generate"
    saved = await client.post(url, json={"agent_id": agent["id"], "save": True}, headers=tenant.headers)
    assert saved.status_code == 201, saved.text
    rubric = saved.json()["rubric"]
    assert (
        saved.headers["location"]
        == f"/api/v1/workspaces/{tenant.workspace_id}/evaluations/rubrics/{rubric['id']}"
    )
    fetched = await client.get(saved.headers["location"], headers=tenant.headers)
    assert fetched.status_code == 200
    assert fetched.json()["dimensions"] == saved.json()["dimensions"]
    draft = await client.post(
        url, json={"agent_id": agent["id"], "name": "Draft only"}, headers=tenant.headers
    )
    assert draft.status_code == 200
    assert "location" not in draft.headers
    assert draft.json()["rubric"] is None
