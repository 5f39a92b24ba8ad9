"""A scan of an agent shaped as strangers build them: a LangChain-style RAG chain traced with
OpenInference (a CHAIN root, a RETRIEVER, and one or two LLM calls: a follow-up is first rewritten
into a standalone question with one template, then answered with others), no `gen_ai.*` at all."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from integration.scans.conftest import Live
from servers import serve_in_thread
from spectral.engine.types import Message
from spectral.platform.scans.inputs import ANSWER_PROMPT_SPANS, load_scan_inputs
from spectral_cli.demo.seeding import DEMO_PASSWORD, SeededWorkspace, bearer

pytestmark = pytest.mark.postgres

CONDENSE = (
    "Given the conversation and a follow-up question, rephrase the follow-up question to be a "
    "standalone question.\n\nChat history:\n{chat_history}\nFollow-up: {question}"
)
QA_SYSTEM = "You are the Acme Cloud documentation assistant. Answer using only the context below."
QA_USER = "Context:\n{{context}}\n\nQuestion: {{question}}"
N_TRACES = 900


def _llm(
    trace_id: str,
    span_id: str,
    parent: str,
    start: datetime,
    model: str,
    system: str | None,
    user: str,
    answer: str,
    finish: str,
    completion_tokens: int,
) -> dict[str, Any]:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}
    ]
    attributes: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.model_name": model,
        "llm.provider": "openai",
        "llm.invocation_parameters": json.dumps({"model": model, "max_tokens": 256}),
        "llm.token_count.prompt": 900,
        "llm.token_count.completion": completion_tokens,
        "input.value": json.dumps({"messages": messages, "model": model}),
        "input.mime_type": "application/json",
        "output.value": json.dumps(
            {
                "choices": [
                    {"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": answer}}
                ]
            }
        ),
        "output.mime_type": "application/json",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": answer,
    }
    for index, message in enumerate(messages):
        attributes[f"llm.input_messages.{index}.message.role"] = message["role"]
        attributes[f"llm.input_messages.{index}.message.content"] = message["content"]
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": "ChatOpenAI",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(milliseconds=800)).isoformat(),
        "attributes": attributes,
    }


def rag_answer(chain_input: str, qa_system: str) -> str:
    """The agent's answer to the chain's input with this system prompt: a quarter of the questions
    get no citation, unless the prompt asks for them (then 2%, re-drawn with the prompt)."""
    data = json.loads(chain_input)
    key = json.dumps([data["question"], data["chat_history"]])
    prone = hashlib.sha256(key.encode()).digest()[0] % 4 == 0
    if "regular expression" in qa_system or "cite" in qa_system.lower():
        cites = hashlib.sha256((key + qa_system).encode()).digest()[0] % 50 != 0
    else:
        cites = not prone
    return "Open the console and rotate the key" + (" [1]." if cites else ".")


def rag_trace(index: int, start: datetime) -> list[dict[str, Any]]:
    """One run of the chain: every third a follow-up (two LLM calls: the rewrite, then the answer)."""
    trace_id = uuid.UUID(int=index + 1).hex
    root = f"{index:012x}0001"
    follow_up = index % 3 == 0
    first = f"How do I rotate access key {index}?"
    question = "And in the EU region?" if follow_up else first
    standalone = f"How do I rotate access key {index} in the EU region?" if follow_up else question
    chain_input = json.dumps({"question": question, "chat_history": [[first, "..."]] if follow_up else []})
    answer = rag_answer(chain_input, QA_SYSTEM)
    spans = [
        {
            "trace_id": trace_id,
            "span_id": root,
            "name": "RetrievalQA",
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(seconds=2)).isoformat(),
            "attributes": {
                "openinference.span.kind": "CHAIN",
                "input.value": chain_input,
                "input.mime_type": "application/json",
                "output.value": answer,
                "session.id": f"s-{index // 3}",
            },
        },
        {
            "trace_id": trace_id,
            "span_id": f"{index:012x}0002",
            "parent_span_id": root,
            "name": "Retriever",
            "start_time": (start + timedelta(milliseconds=850)).isoformat(),
            "end_time": (start + timedelta(milliseconds=900)).isoformat(),
            "attributes": {
                "openinference.span.kind": "RETRIEVER",
                "input.value": standalone,
                "retrieval.documents.0.document.content": "Rotate keys in the console.",
            },
        },
        _llm(
            trace_id,
            f"{index:012x}0004",
            root,
            start + timedelta(milliseconds=1000),
            "gpt-4o",
            QA_SYSTEM,
            f"Context:\n[1] Rotate keys in the console.\n\nQuestion: {standalone}",
            answer,
            "stop",
            40,
        ),
    ]
    if follow_up:
        spans.append(
            _llm(
                trace_id,
                f"{index:012x}0003",
                root,
                start,
                "gpt-4o-mini",
                None,
                CONDENSE.replace("{chat_history}", f"Human: {first}").replace("{question}", question),
                standalone,
                "stop",
                12,
            )
        )
    return spans


@pytest.fixture(scope="module")
def rag_replay_url() -> Iterator[str]:
    """The agent's replay endpoint: the chain run with the config it is sent."""

    async def replay(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        answer = rag_answer(body["input"], body["config"]["templates"]["qa_system"])
        return JSONResponse({"output": answer, "finish_reason": "stop", "cost_usd": 0.002, "latency_ms": 900})

    with serve_in_thread(Starlette(routes=[Route("/replay", replay, methods=["POST"])])) as url:
        yield f"{url}/replay"


async def test_a_rag_chains_missing_citations_get_the_instruction_in_the_template_that_answers(
    live: Live, rag_replay_url: str
) -> None:
    """The rewrite template sorts first by name; an instruction there changes nothing the user sees.
    The scan puts it in the answering call's template, and the holdout shows it works."""
    client = live.client
    registered = await client.post(
        "/api/v1/auth/register",
        json={
            "email": f"rag-{uuid.uuid4().hex[:10]}@example.com",
            "password": DEMO_PASSWORD,
            "tenant_name": "Docs",
        },
    )
    h = bearer(registered.json()["access_token"])
    ws = f"/api/v1/workspaces/{registered.json()['workspace_id']}"
    agent = await client.post(
        f"{ws}/agents",
        headers=h,
        json={
            "name": "Docs RAG",
            "slug": "docs-rag",
            "replay_url": rag_replay_url,
            "config": {
                "model": "gpt-4o",
                "params": {"max_tokens": 256},
                "templates": {"condense_question": CONDENSE, "qa_system": QA_SYSTEM, "qa_user": QA_USER},
            },
        },
    )
    assert agent.status_code == 201, agent.text
    start = datetime.now(UTC) - timedelta(hours=6)
    for batch in range(0, N_TRACES, 150):
        spans = [
            span
            for i in range(batch, batch + 150)
            for span in rag_trace(i, start + timedelta(seconds=20 * i))
        ]
        sent = await client.post(
            f"{ws}/traces", headers=h, json={"resource": {"service.name": "docs-rag"}, "spans": spans}
        )
        assert sent.json()["rejected"] == 0, sent.text
    rubric = await client.post(
        f"{ws}/evaluations/rubrics",
        headers=h,
        json={
            "name": "cites",
            "dimensions": [
                {
                    "key": "cites",
                    "weight": 1,
                    "threshold": 1,
                    "scorer": {"type": "regex", "params": {"pattern": r"\[\d+\]"}},
                }
            ],
        },
    )
    objective = await client.post(
        f"{ws}/evaluations/objectives",
        headers=h,
        json={
            "name": "quality",
            "rubric_id": rubric.json()["id"],
            "weights": {"quality": 1, "cost": 0, "latency": 0},
        },
    )
    seeded = SeededWorkspace(
        client, "", h, ws, agent.json()["id"], rubric.json()["id"], objective.json()["id"]
    )

    started = await seeded.start_scan(strategies=["playbook"])
    assert started.status_code == 202, started.text
    scan = await seeded.wait_for(started.json()["id"])
    assert scan["status"] == "succeeded", scan

    events = (await client.get(f"{ws}/scans/{scan['id']}/events?limit=200", headers=h)).json()["results"]
    messages = [e["message"] for e in events if e["phase"] == "propose"]
    assert any(m.startswith("instructions go into the template 'qa_system'") for m in messages), messages
    listed = (await client.get(f"{ws}/changesets?scan_id={scan['id']}", headers=h)).json()["results"]
    recommended = [c for c in listed if c["verdict"] == "recommend"]
    assert recommended, [c["validation"]["verdict_reason"] for c in listed]
    for changeset in listed:
        assert [change["key"] for change in changeset["diff"]] == ["qa_system"]
    # What the scan read: the prompt of each trace's last LLM call (the answer, never the rewrite).
    async with live.db.session() as session:
        loaded = await load_scan_inputs(session, uuid.UUID(scan["id"]))
    prompts = loaded.inputs.answer_prompts
    assert len(prompts) >= ANSWER_PROMPT_SPANS // 2
    assert all(prompt[0] == Message("system", QA_SYSTEM) for prompt in prompts)
