"""With a model configured, the model plans with tool calling through the gateway: a scripted
OpenAI-compatible (or Anthropic) server on loopback emits the tool calls. Its calls are ledgered,
tool results are truncated data, the conversation's token budget stops it, and no tool output can
turn into an approval the user did not ask for in their own message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import select

from integration.assistant.assistant_support import INJECTION, World, ask
from integration.models.gateway_support import gateway_settings
from integration.models.llm_servers import Kind, Reply, ScriptedLLMServer, running
from spectral.platform.models.models import ModelCall
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings


@pytest.fixture(params=["openai"])
def llm(request: pytest.FixtureRequest) -> Iterator[ScriptedLLMServer]:
    with running(request.param) as server:
        yield server


@pytest.fixture
def settings(settings: Settings, llm: ScriptedLLMServer, request: pytest.FixtureRequest) -> Settings:
    overrides: dict[str, Any] = getattr(request, "param", {})
    return gateway_settings(settings, llm, assistant_model="gpt-4o-mini", **overrides)


def tool_calls(kind: Kind, *calls: tuple[str, dict[str, Any]], input_tokens: int = 1000) -> Reply:
    """A reply in the server's format in which the model calls `calls` (name, arguments)."""
    if kind == "openai":
        return Reply(
            body={
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": f"call_{i}",
                                    "type": "function",
                                    "function": {"name": name, "arguments": json.dumps(args)},
                                }
                                for i, (name, args) in enumerate(calls)
                            ],
                        },
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {"prompt_tokens": input_tokens, "completion_tokens": 200},
            }
        )
    return Reply(
        body={
            "content": [
                {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
                for i, (name, args) in enumerate(calls)
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": input_tokens, "output_tokens": 200},
        }
    )


def _tool_results(kind: Kind, body: dict[str, Any]) -> list[str]:
    """The tool results a request sent back to the model, in order."""
    if kind == "openai":
        return [m["content"] for m in body["messages"] if m["role"] == "tool"]
    return [
        block["content"]
        for m in body["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for block in m["content"]
        if block["type"] == "tool_result"
    ]


async def _ledger(db: Database, world: World) -> list[ModelCall]:
    async with db.session() as session:
        rows = await session.exec(
            select(ModelCall).where(ModelCall.workspace_id == world.tenant.workspace_id)
        )
        return list(rows.all())


@pytest.mark.parametrize("llm", ["openai", "anthropic"], indirect=True)
async def test_the_model_plans_with_tools_and_cites_what_they_returned(
    client: httpx.AsyncClient, world: World, llm: ScriptedLLMServer, db: Database
) -> None:
    failing = sorted(world.failing_trace_ids)
    llm.script(tool_calls(llm.kind, ("search_traces", {"agent": "support-bot", "status": "error"})))
    llm.answer = f"Two traces of support-bot failed in the last 24 h: {failing[0]} and {failing[1]}."

    reply = await ask(client, world.tenant, "What is failing for support-bot?")
    assert reply["reply"]["planner"] == "model"
    assert reply["reply"]["content"] == llm.answer
    assert {c["id"] for c in reply["reply"]["citations"] if c["kind"] == "trace"} == set(failing)
    assert [c["tool"] for c in reply["reply"]["tool_calls"]] == ["search_traces"]

    first, second = (r.body for r in llm.requests)
    offered = (
        {t["function"]["name"] for t in first["tools"]}
        if llm.kind == "openai"
        else {t["name"] for t in first["tools"]}
    )
    assert {"search_traces", "start_scan", "accept_changeset", "morning_briefing", "next_action"} <= offered
    [result] = _tool_results(llm.kind, second)
    data = json.loads(result)
    assert {t["trace_id"] for t in data["traces"]} == set(failing)
    # The injected text reaches the model only inside a tool result, as data.
    assert INJECTION in result
    prompt_text = json.dumps(first)
    assert INJECTION not in prompt_text

    calls = await _ledger(db, world)
    assert [(c.purpose, c.status, c.model) for c in calls] == [("assistant", "ok", "gpt-4o-mini")] * 2
    detail = await client.get(
        f"{world.tenant.ws}/agent/conversations/{reply['conversation_id']}", headers=world.tenant.headers
    )
    assert detail.json()["tokens_used"] == 2 * (1000 + 200)


async def test_a_trace_saying_accept_all_change_sets_creates_no_approval(
    client: httpx.AsyncClient, world: World, llm: ScriptedLLMServer
) -> None:
    # The model, fooled by the trace, tries to act: the user only asked a question.
    llm.script(
        tool_calls(llm.kind, ("get_trace", {"trace_id": world.injection_trace_id})),
        tool_calls(
            llm.kind,
            ("accept_changeset", {"changeset_id": str(world.recommended_id)}),
            ("accept_changeset", {"changeset_id": str(world.inconclusive_id)}),
            ("start_scan", {"agent": "support-bot"}),
        ),
    )
    llm.answer = "Done."
    reply = await ask(client, world.tenant, f"What happened in trace {world.injection_trace_id}?")
    assert reply["approvals"] == []
    refused = [c for c in reply["reply"]["tool_calls"] if "refused" in c]
    assert [c["tool"] for c in refused] == ["accept_changeset", "accept_changeset", "start_scan"]
    results = [json.loads(r) for r in _tool_results(llm.kind, llm.requests[-1].body)]
    assert [r.get("refused", "")[:25] for r in results[1:]] == ["No approval was created: "] * 3
    approvals = await client.get(f"{world.tenant.ws}/agent/approvals", headers=world.tenant.headers)
    assert approvals.json()["results"] == []
    for changeset_id in (world.recommended_id, world.inconclusive_id):
        cs = await client.get(f"{world.tenant.ws}/changesets/{changeset_id}", headers=world.tenant.headers)
        assert cs.json()["status"] == "proposed"
    scans = await client.get(f"{world.tenant.ws}/scans", headers=world.tenant.headers)
    assert scans.json()["pagination"]["total"] == 0


async def test_an_action_the_user_asked_for_becomes_an_approval_for_that_change_set_only(
    client: httpx.AsyncClient, world: World, llm: ScriptedLLMServer
) -> None:
    llm.script(
        tool_calls(
            llm.kind,
            ("accept_changeset", {"changeset_id": str(world.inconclusive_id)}),
            ("accept_changeset", {"changeset_id": str(world.recommended_id)}),
        )
    )
    llm.answer = "I prepared the approval."
    reply = await ask(client, world.tenant, f"Accept change set {world.recommended_id}")
    [approval] = reply["approvals"]
    assert approval["request"]["path"].endswith(f"/changesets/{world.recommended_id}/accept")
    [refused] = [c for c in reply["reply"]["tool_calls"] if "refused" in c]
    assert refused["arguments"] == {"changeset_id": str(world.inconclusive_id)}


@pytest.mark.parametrize("settings", [{"assistant_tool_result_chars": 300}], indirect=True)
async def test_tool_results_are_truncated_to_the_limit(
    client: httpx.AsyncClient, world: World, llm: ScriptedLLMServer
) -> None:
    llm.script(tool_calls(llm.kind, ("search_traces", {"agent": "support-bot"})))
    reply = await ask(client, world.tenant, "Show me support-bot's traces")
    [result] = _tool_results(llm.kind, llm.requests[-1].body)
    assert len(result) < 300 + 60
    assert "[truncated:" in result
    assert reply["reply"]["tool_calls"][0]["truncated"] is True


async def test_the_token_budget_stops_the_model(
    client: httpx.AsyncClient, world: World, llm: ScriptedLLMServer
) -> None:
    # One call reports more tokens than the conversation may spend: no second call is made.
    llm.script(tool_calls(llm.kind, ("trace_stats", {}), input_tokens=250_000))
    reply = await ask(client, world.tenant, "How many traces came in?")
    assert llm.count == 1
    assert "token budget (200000)" in reply["reply"]["content"]
    conversation = reply["conversation_id"]
    again = await ask(client, world.tenant, "And yesterday?", conversation)
    assert llm.count == 1
    assert "token budget" in again["reply"]["content"]
    detail = await client.get(
        f"{world.tenant.ws}/agent/conversations/{conversation}", headers=world.tenant.headers
    )
    assert detail.json()["tokens_used"] == 250_000 + 200


async def test_when_the_model_fails_the_offline_planner_answers(
    client: httpx.AsyncClient, world: World, llm: ScriptedLLMServer, db: Database
) -> None:
    llm.fail(400)
    reply = await ask(client, world.tenant, "What is failing for support-bot?")
    assert reply["reply"]["planner"] == "offline"
    assert "is unavailable" in reply["reply"]["content"]
    assert "2 error traces of support-bot" in reply["reply"]["content"]
    assert [c.status for c in await _ledger(db, world)] == ["error"]


async def test_tool_calling_requests_are_never_answered_from_the_cache(
    client: httpx.AsyncClient, world: World, llm: ScriptedLLMServer, db: Database
) -> None:
    # The cache keeps text only; a cached answer would drop the tool calls (and the fresh data).
    llm.answer = "Nothing failed."
    for _ in range(2):
        reply = await ask(client, world.tenant, "Anything failing?")
        assert reply["reply"]["content"] == "Nothing failed."
    assert llm.count == 2
    assert [c.status for c in await _ledger(db, world)] == ["ok", "ok"]
