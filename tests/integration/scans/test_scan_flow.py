"""The optimization loop in one process, on PostgreSQL: ingest, scan (202), poll, events, report,
cost, change sets with their evidence, accept -> apply -> rollback, and the runtime config an agent
fetches with its API key following every step."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from demo_data import DemoWorkspace

from integration.scans.conftest import Live, SeededWorkspace, seed_workspace

pytestmark = pytest.mark.postgres


async def wait_for_scan(
    live: Live, seeded: SeededWorkspace, scan_id: str, timeout_s: float = 120
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    url = f"{seeded.tenant.ws}/scans/{scan_id}"
    while True:
        scan = (await live.client.get(url, headers=seeded.tenant.headers)).json()
        if scan["status"] in {"succeeded", "failed", "cancelled"}:
            return scan
        assert asyncio.get_running_loop().time() < deadline, f"scan still {scan['status']} ({scan['phase']})"
        await asyncio.sleep(0.2)


async def start_scan(live: Live, seeded: SeededWorkspace, **extra: Any) -> Any:
    body = {
        "agent_id": seeded.agent_id,
        "rubric_id": seeded.rubric_id,
        "objective_id": seeded.objective_id,
        "seed": 3,
        **extra,
    }
    return await live.client.post(f"{seeded.tenant.ws}/scans", json=body, headers=seeded.tenant.headers)


async def test_scan_finds_validated_fixes_and_the_lifecycle_moves_the_runtime_config(
    live: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(live, demo, demo_agent_url)
    h, ws = seeded.tenant.headers, seeded.tenant.ws
    key = await seeded.tenant.api_key(["read:agents"])
    config_url = f"{ws}/agents/{seeded.agent_id}/config"
    before = await live.client.get(config_url, headers={"Authorization": f"Bearer {key}"})
    assert before.status_code == 200

    started = await start_scan(live, seeded)
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    assert started.headers["location"] == f"{ws}/scans/{started.json()['id']}"
    scan = await wait_for_scan(live, seeded, started.json()["id"])
    assert scan["status"] == "succeeded", scan
    assert scan["summary"]["n_clusters"] >= 4
    assert scan["summary"]["n_recommended"] >= 1

    events = (await live.client.get(f"{ws}/scans/{scan['id']}/events", headers=h)).json()
    phases = {e["phase"] for e in events["results"]}
    assert {"collect", "evaluate", "diagnose", "propose", "experiment", "validate", "report"} <= phases
    later = (
        await live.client.get(f"{ws}/scans/{scan['id']}/events?after={events['next_after']}", headers=h)
    ).json()
    assert later["results"] == []

    cost = (await live.client.get(f"{ws}/scans/{scan['id']}/cost", headers=h)).json()
    assert cost["total_calls"] > 0
    assert cost["total_cost_usd"] > 0
    assert {m["model"] for m in cost["models"]}

    report = await live.client.get(f"{ws}/scans/{scan['id']}/report", headers=h)
    assert report.headers["content-type"] == "application/json"
    markdown = await live.client.get(
        f"{ws}/scans/{scan['id']}/report", headers={**h, "Accept": "text/markdown"}
    )
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "#" in markdown.text

    listed = (
        await live.client.get(f"{ws}/changesets?scan_id={scan['id']}&status=proposed", headers=h)
    ).json()
    recommended = [c for c in listed["results"] if c["verdict"] == "recommend"]
    assert recommended
    changeset = recommended[0]
    assert changeset["diff"]
    assert changeset["rationale"]
    assert changeset["clusters"]
    assert changeset["validation"]["ci_low"] > 0
    assert changeset["expected_impact"]["validated"] is True
    assert changeset["evidence_trace_ids"]

    cluster = changeset["clusters"][0]
    detail = (
        await live.client.get(f"{ws}/changesets/{changeset['id']}/clusters/{cluster['id']}", headers=h)
    ).json()
    assert detail["trace_ids"]
    assert len(detail["trace_ids"]) == detail["size"]

    cs_url = f"{ws}/changesets/{changeset['id']}"
    invalid = await live.client.post(f"{cs_url}/apply", headers=h)
    assert invalid.status_code == 400
    assert invalid.json()["type"] == "https://spectral.dev/errors/invalid-transition"

    accepted = await live.client.post(f"{cs_url}/accept", headers=h)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    after_accept = await live.client.get(config_url, headers={"Authorization": f"Bearer {key}"})
    assert after_accept.json()["version"] == accepted.json()["promoted_version_number"]
    assert after_accept.headers["etag"] != before.headers["etag"]

    applied = await live.client.post(f"{cs_url}/apply", headers=h)
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "applied"

    rolled_back = await live.client.post(f"{cs_url}/rollback", headers=h)
    assert rolled_back.status_code == 200, rolled_back.text
    assert rolled_back.json()["status"] == "rolled_back"
    after_rollback = await live.client.get(config_url, headers={"Authorization": f"Bearer {key}"})
    assert after_rollback.json()["version"] == before.json()["version"]
    assert {k: v for k, v in after_rollback.json().items() if k != "version"} == {
        k: v for k, v in before.json().items() if k != "version"
    }

    again = await live.client.post(f"{cs_url}/rollback", headers=h)
    assert again.status_code == 400


async def test_scan_references_are_checked(live: Live, demo: DemoWorkspace) -> None:
    seeded = await seed_workspace(live, demo, None)
    other = await seed_workspace(live, demo, None)
    foreign = await start_scan(live, seeded, agent_id=other.agent_id)
    assert foreign.status_code == 404
    mismatched = await start_scan(live, seeded, rubric_id=other.rubric_id)
    assert mismatched.status_code == 404
    invalid = await start_scan(live, seeded, holdout_fraction=0.9)
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["body", "holdout_fraction"]
