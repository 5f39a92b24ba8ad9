"""Dashboard reads: an empty workspace answers zeros, and the numbers move once an agent, a rubric,
an objective and traces exist."""

from __future__ import annotations

from datetime import timedelta

import httpx

from fixtures_identity import Tenant
from integration.dashboard.conftest import N_TRACES, Seeded
from spectral.platform.shared.clock import utcnow


async def test_empty_workspace_answers_zeros(client: httpx.AsyncClient, tenant: Tenant) -> None:
    h = tenant.headers
    control = await client.get(f"{tenant.ws}/control-plane", headers=h)
    assert control.status_code == 200, control.text
    assert control.json()["agents"] == []
    assert control.json()["autonomy_level"] == "observe"

    briefing = (await client.get(f"{tenant.ws}/morning-briefing", headers=h)).json()
    assert briefing["traces"] == {"received": 0, "failing": 0}
    assert briefing["scans"] == {"succeeded": 0, "failed": 0}
    assert briefing["changesets"] == {"proposed": 0, "accepted": 0, "applied": 0, "rolled_back": 0}
    assert briefing["top_clusters"] == []
    assert briefing["lines"][0] == "No traces arrived in this period."

    overview = (await client.get(f"{tenant.ws}/workflow-overview", headers=h)).json()
    counts = overview["counts"]
    assert counts["agents"] == counts["traces"] == counts["rubrics"] == counts["objectives"] == 0
    assert set(counts["scans"].values()) == {0}
    assert set(counts["changesets"].values()) == {0}
    assert [s["key"] for s in overview["next_steps"]] == [
        "create_agent",
        "send_traces",
        "create_rubric",
        "create_objective",
        "run_scan",
    ]


async def test_numbers_move_with_agent_rubric_objective_and_traces(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    tenant, h = seeded.tenant, seeded.tenant.headers
    control = (await client.get(f"{tenant.ws}/control-plane", headers=h)).json()
    (agent,) = control["agents"]
    assert agent["agent_id"] == seeded.agent_id
    assert agent["active_version_number"] == 1
    assert agent["last_24h"]["traces"] == N_TRACES
    assert agent["last_24h"]["errors"] == 1
    assert agent["last_24h"]["cost_usd"] > 0
    assert agent["latest_scan"] is None
    assert agent["awaiting_review"] == {"proposed": 0, "recommended": 0}

    briefing = (await client.get(f"{tenant.ws}/morning-briefing", headers=h)).json()
    assert briefing["traces"] == {"received": N_TRACES, "failing": 1}
    assert briefing["lines"][0] == f"{N_TRACES} traces arrived; 1 failed (25%)."

    overview = (await client.get(f"{tenant.ws}/workflow-overview", headers=h)).json()
    counts = overview["counts"]
    assert (counts["agents"], counts["rubrics"], counts["objectives"], counts["traces"]) == (
        1,
        1,
        1,
        N_TRACES,
    )
    assert counts["agents_with_replay_url"] == 0
    assert [s["key"] for s in overview["next_steps"]] == ["set_replay_url", "run_scan"]


async def test_briefing_since_a_later_time_sees_nothing(client: httpx.AsyncClient, seeded: Seeded) -> None:
    tenant = seeded.tenant
    later = utcnow().isoformat()
    briefing = await client.get(
        f"{tenant.ws}/morning-briefing", params={"since": later}, headers=tenant.headers
    )
    assert briefing.status_code == 200, briefing.text
    assert briefing.json()["traces"]["received"] == 0


async def test_briefing_since_the_future_is_a_problem(client: httpx.AsyncClient, tenant: Tenant) -> None:
    future = (utcnow() + timedelta(days=1)).isoformat()
    response = await client.get(
        f"{tenant.ws}/morning-briefing", params={"since": future}, headers=tenant.headers
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 400


async def test_viewer_reads_the_dashboard(client: httpx.AsyncClient, tenant: Tenant) -> None:
    viewer = await tenant.member("viewer")
    for path in ("control-plane", "morning-briefing", "workflow-overview"):
        assert (await client.get(f"{tenant.ws}/{path}", headers=viewer)).status_code == 200
