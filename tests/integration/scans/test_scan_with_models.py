"""A scan with a model provider configured (an OpenAI-compatible server on loopback): the rubric's
`llm_judge` dimension is judged through the gateway, every call is ledgered, and the budget stops
the spending with an event instead of overrunning."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest

from integration.models.gateway_support import gateway_settings
from integration.models.llm_servers import ScriptedLLMServer, running
from integration.scans.conftest import Live, _live
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.shared.settings import Settings
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace

pytestmark = pytest.mark.postgres


@pytest.fixture
def judge_server() -> Iterator[ScriptedLLMServer]:
    with running("openai") as server:
        server.answer = json.dumps({"score": 0.9, "reason": "answers the question politely"})
        server.input_tokens, server.output_tokens = 400, 30
        yield server


@pytest.fixture
async def live_with_models(
    pg_url: str, settings: Settings, judge_server: ScriptedLLMServer
) -> AsyncIterator[Live]:
    async with _live(pg_url, gateway_settings(settings, judge_server), JOB_FUNCTIONS) as running_live:
        yield running_live


async def test_llm_judge_runs_through_the_gateway_within_the_budget(
    live_with_models: Live, demo: DemoWorkspace, judge_server: ScriptedLLMServer
) -> None:
    live = live_with_models
    seeded = await seed_workspace(live.client, demo, None)
    rubric = demo.rubric_payload()
    rubric["name"] = "support answers, judged"
    rubric["dimensions"].append(
        {
            "key": "polite",
            "name": "Polite",
            "description": "The answer is polite and on topic",
            "weight": 1.0,
            "threshold": 0.5,
            "scorer": {"type": "llm_judge", "params": {"criteria": "Is the answer polite and on topic?"}},
        }
    )
    created = await live.client.post(f"{seeded.ws}/evaluations/rubrics", json=rubric, headers=seeded.headers)
    assert created.status_code == 201, created.text
    objective = await live.client.post(
        f"{seeded.ws}/evaluations/objectives",
        json={**demo.objective_payload(created.json()["id"]), "name": "judged quality"},
        headers=seeded.headers,
    )
    assert objective.status_code == 201, objective.text
    budget = 0.02
    scan_id = (
        await seeded.start_scan(
            rubric_id=created.json()["id"],
            objective_id=objective.json()["id"],
            budget_usd=budget,
            strategies=["playbook"],
        )
    ).json()["id"]
    scan = await seeded.wait_for(scan_id)
    assert scan["status"] == "succeeded", scan

    cost = (await live.client.get(f"{seeded.ws}/scans/{scan_id}/cost", headers=seeded.headers)).json()
    gateway_rows = {m["model"]: m for m in cost["models"] if m["source"] == "gateway"}
    assert "gpt-4o-mini" in gateway_rows  # the judge model
    assert 0 < cost["gateway_cost_usd"] <= budget
    # Identical prompts are answered from the response cache: ledgered, but never sent twice.
    assert 0 < judge_server.count <= sum(row["calls"] for row in gateway_rows.values())
    # 900 traces would cost far more than the budget: the scan stopped judging and said so.
    assert judge_server.count < 900
    events = (
        await live.client.get(f"{seeded.ws}/scans/{scan_id}/events?limit=500", headers=seeded.headers)
    ).json()
    assert any("budget exhausted" in e["message"] for e in events["results"])


async def test_without_a_replay_url_the_templates_are_replayed_through_the_gateway(
    live_with_models: Live, demo: DemoWorkspace, judge_server: ScriptedLLMServer
) -> None:
    live = live_with_models
    seeded = await seed_workspace(live.client, demo, None)
    judge_server.answer = json.dumps({"answer": "Your order ORD-12345 ships today.", "category": "orders"})
    scan_id = (await seeded.start_scan(budget_usd=50, strategies=["playbook"])).json()["id"]
    scan = await seeded.wait_for(scan_id)
    assert scan["status"] == "succeeded", scan

    events = (
        await live.client.get(f"{seeded.ws}/scans/{scan_id}/events?limit=500", headers=seeded.headers)
    ).json()
    assert "managed templates through the model gateway" in events["results"][0]["message"]
    cost = (await live.client.get(f"{seeded.ws}/scans/{scan_id}/cost", headers=seeded.headers)).json()
    replayed = {m["model"] for m in cost["models"] if m["source"] == "gateway"}
    assert demo.synthetic.baseline.model in replayed
    # The replay prompt is the agent's own: its system template, and the user template filled
    # with the recorded input.
    sent = [r.body for r in judge_server.requests if r.body.get("model") == demo.synthetic.baseline.model]
    assert sent
    assert sent[0]["messages"][0] == {
        "role": "system",
        "content": demo.synthetic.baseline.templates["system"],
    }
    assert any(t.input == sent[0]["messages"][1]["content"] for t in demo.synthetic.traces)
