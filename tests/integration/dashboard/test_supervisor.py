"""Supervisor reads and the nightly run: the next action follows the loop, the plan picks agents
with new traces and a rubric + objective, and running it starts scans as the supervisor."""

from __future__ import annotations

import httpx

from fixtures_identity import Tenant
from integration.dashboard.conftest import N_TRACES, Seeded, send_traces
from spectral.platform.shared.queue import InProcessQueue


async def test_empty_workspace(client: httpx.AsyncClient, tenant: Tenant) -> None:
    h, ws = tenant.headers, tenant.ws
    state = (await client.get(f"{ws}/supervisor/state", headers=h)).json()
    assert state["autonomy_level"] == "observe"
    assert state["guardrails"]["nightly_budget_usd"] == 5.0
    assert state["recent_actions"] == state["waiting_for_human"] == []

    action = (await client.get(f"{ws}/supervisor/next-action", headers=h)).json()
    assert action["action"] == "send_traces"
    assert action["call"] == {"method": "POST", "path": f"{ws}/traces", "body": None}

    assert (await client.get(f"{ws}/supervisor/nightly-plan", headers=h)).json()["scans"] == []
    assert (await client.get(f"{ws}/supervisor/frontier-report", headers=h)).json()["agents"] == []
    assert (await client.get(f"{ws}/supervisor/failures", headers=h)).json() == {"clusters": []}

    nothing = await client.post(f"{ws}/supervisor/nightly-plan", headers=h)
    assert nothing.status_code == 400
    assert nothing.headers["content-type"].startswith("application/problem+json")


async def test_next_action_asks_for_a_rubric_once_traces_arrive(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await send_traces(client, tenant, "unknown-service", n=2, failing=0)
    action = (await client.get(f"{tenant.ws}/supervisor/next-action", headers=tenant.headers)).json()
    assert action["action"] == "create_rubric"
    assert action["call"]["path"] == f"{tenant.ws}/evaluations/rubrics"


async def test_frontier_report_per_model(client: httpx.AsyncClient, seeded: Seeded) -> None:
    tenant = seeded.tenant
    report = (await client.get(f"{tenant.ws}/supervisor/frontier-report", headers=tenant.headers)).json()
    (agent,) = report["agents"]
    assert agent["agent_id"] == seeded.agent_id
    models = {m["model"]: m for m in agent["models"]}
    assert set(models) == {"gpt-4o", "gpt-4o-mini"}
    assert sum(m["traces"] for m in models.values()) == N_TRACES
    assert all(m["quality_source"] == "no_error_share" for m in models.values())
    # The failing trace is a gpt-4o-mini one (index 0); gpt-4o is all ok but costs more.
    assert models["gpt-4o"]["quality"] == 1.0
    assert models["gpt-4o-mini"]["quality"] == 0.5
    assert models["gpt-4o"]["mean_cost_usd"] > models["gpt-4o-mini"]["mean_cost_usd"]
    assert models["gpt-4o"]["on_frontier"]
    assert models["gpt-4o-mini"]["on_frontier"]


async def test_nightly_plan_runs_as_the_supervisor(
    client: httpx.AsyncClient, seeded: Seeded, queue: InProcessQueue
) -> None:
    tenant, h, ws = seeded.tenant, seeded.tenant.headers, seeded.tenant.ws
    action = (await client.get(f"{ws}/supervisor/next-action", headers=h)).json()
    assert action["action"] == "run_scan"
    assert action["call"]["body"] == {
        "agent_id": seeded.agent_id,
        "rubric_id": seeded.rubric_id,
        "objective_id": seeded.objective_id,
    }

    plan = (await client.get(f"{ws}/supervisor/nightly-plan", headers=h)).json()
    (planned,) = plan["scans"]
    assert (planned["agent_id"], planned["rubric_id"], planned["objective_id"]) == (
        seeded.agent_id,
        seeded.rubric_id,
        seeded.objective_id,
    )
    assert planned["budget_usd"] == plan["nightly_budget_usd"] == 5.0

    viewer = await tenant.member("viewer")
    assert (await client.post(f"{ws}/supervisor/nightly-plan", headers=viewer)).status_code == 403

    started = await client.post(f"{ws}/supervisor/nightly-plan", headers=h)
    assert started.status_code == 202, started.text
    (scan,) = started.json()["scans"]
    assert scan["created_by"] == "supervisor"
    assert scan["agent_id"] == seeded.agent_id
    assert scan["parameters"]["budget_usd"] == 5.0
    await queue.join()

    state = (await client.get(f"{ws}/supervisor/state", headers=h)).json()
    assert [a["action"] for a in state["recent_actions"]] == ["scan.start"]
    assert state["recent_actions"][0]["resource_id"] == scan["id"]
    # Nothing new since that scan: tonight's plan is empty again.
    assert (await client.get(f"{ws}/supervisor/nightly-plan", headers=h)).json()["scans"] == []
    control = (await client.get(f"{ws}/control-plane", headers=h)).json()
    assert control["agents"][0]["latest_scan"]["id"] == scan["id"]
