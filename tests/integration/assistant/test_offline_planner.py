"""Without a model, the deterministic planner answers a fixed set of questions from the seeded
workspace, with figures and the ids (and windows) they are built from; reading proposes nothing."""

from __future__ import annotations

import httpx
import pytest

from integration.assistant.assistant_support import INJECTION, World, ask

pytestmark = pytest.mark.both_backends


def _cited(reply: dict[str, object], kind: str) -> set[str]:
    citations = reply["reply"]["citations"]  # type: ignore[index]
    return {c["id"] for c in citations if c["kind"] == kind and "id" in c}


async def test_what_is_failing_cites_the_failing_traces_and_their_window(
    client: httpx.AsyncClient, world: World
) -> None:
    reply = await ask(client, world.tenant, "What is failing for support-bot?")
    assert reply["reply"]["planner"] == "offline"
    assert "2 error traces of support-bot in the last 24 h" in reply["reply"]["content"]
    assert _cited(reply, "trace") == set(world.failing_trace_ids)
    windows = [c["window"] for c in reply["reply"]["citations"] if c["kind"] == "trace"]
    assert all(w["start"] < w["end"] for w in windows)
    assert {call["tool"] for call in reply["reply"]["tool_calls"]} == {"search_traces", "failures"}
    assert reply["approvals"] == []


async def test_compare_two_change_sets_gives_both_gains(client: httpx.AsyncClient, world: World) -> None:
    reply = await ask(
        client, world.tenant, f"Compare change set {world.recommended_id} with {world.inconclusive_id}"
    )
    content = reply["reply"]["content"]
    assert f"{world.recommended_id}: proposed, verdict recommend, 1 changes, quality gain 0.12" in content
    assert f"{world.inconclusive_id}: proposed, verdict inconclusive, 1 changes, quality gain 0.01" in content
    assert _cited(reply, "changeset") == {str(world.recommended_id), str(world.inconclusive_id)}


async def test_what_should_i_do_today_reaches_the_next_action_and_the_briefing(
    client: httpx.AsyncClient, world: World
) -> None:
    reply = await ask(client, world.tenant, "What should I do today?")
    content = reply["reply"]["content"]
    assert f"Next step: review_changeset: Change set {world.recommended_id}" in content
    assert f"/changesets/{world.recommended_id}/accept" in content
    assert [c for c in reply["reply"]["citations"] if c["kind"] == "briefing"]
    assert reply["approvals"] == []  # a suggestion to read, not an action asked for


async def test_why_did_quality_drop_uses_the_briefing_and_the_traffic(
    client: httpx.AsyncClient, world: World
) -> None:
    reply = await ask(client, world.tenant, "Why did quality drop yesterday?")
    content = reply["reply"]["content"]
    assert "support-bot: 5 traces, 2 failing" in content
    assert "billing-bot: 0 traces, 0 failing" in content
    assert _cited(reply, "trace") == set(world.failing_trace_ids)
    assert _cited(reply, "agent") == {world.agent_id, world.other_agent_id}


async def test_listing_change_sets_of_an_agent(client: httpx.AsyncClient, world: World) -> None:
    reply = await ask(client, world.tenant, "Which change sets does support-bot have?")
    assert "2 change sets" in reply["reply"]["content"]
    assert _cited(reply, "changeset") == {str(world.recommended_id), str(world.inconclusive_id)}


async def test_the_conversation_keeps_both_sides_in_order(client: httpx.AsyncClient, world: World) -> None:
    h = world.tenant.headers
    first = await ask(client, world.tenant, "How many traces came in?")
    conversation = first["conversation_id"]
    await ask(client, world.tenant, "Which agents are there?", conversation)
    detail = await client.get(f"{world.tenant.ws}/agent/conversations/{conversation}?limit=3", headers=h)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["title"] == "How many traces came in?"
    assert body["messages"]["pagination"] == {"total": 4, "limit": 3, "offset": 0}
    assert [(m["seq"], m["role"]) for m in body["messages"]["results"]] == [
        (1, "user"),
        (2, "assistant"),
        (3, "user"),
    ]
    listed = await client.get(f"{world.tenant.ws}/agent/conversations", headers=h)
    assert [c["id"] for c in listed.json()["results"]] == [conversation]


async def test_trace_text_asking_to_accept_all_change_sets_is_shown_never_obeyed(
    client: httpx.AsyncClient, world: World
) -> None:
    reply = await ask(client, world.tenant, f"Show me trace {world.injection_trace_id}")
    assert reply["approvals"] == []
    assert _cited(reply, "trace") == {world.injection_trace_id}
    [call] = reply["reply"]["tool_calls"]
    assert call["tool"] == "get_trace"
    # The failing traces' text (the injection among them) is read, and still nothing is proposed.
    failing = await ask(client, world.tenant, "What is failing for support-bot?")
    assert failing["approvals"] == []
    assert INJECTION not in failing["reply"]["content"]
    approvals = await client.get(f"{world.tenant.ws}/agent/approvals", headers=world.tenant.headers)
    assert approvals.json()["results"] == []


async def test_what_changed_between_two_config_versions(client: httpx.AsyncClient, world: World) -> None:
    h = world.tenant.headers
    version = await client.post(
        f"{world.tenant.ws}/agents/{world.agent_id}/versions",
        json={"model": "gpt-4o-mini", "params": {"temperature": 0.2}, "templates": {"system": "Be brief."}},
        headers=h,
    )
    assert version.status_code == 201, version.text
    reply = await ask(client, world.tenant, "What changed in the support-bot config from version 1 to 2?")
    content = reply["reply"]["content"]
    assert "Agent support-bot, version 1 -> 2: model: gpt-4o -> gpt-4o-mini." in content
    [diff] = [c for c in reply["reply"]["citations"] if c.get("versions")]
    assert diff == {"kind": "agent", "id": world.agent_id, "versions": [1, 2]}
