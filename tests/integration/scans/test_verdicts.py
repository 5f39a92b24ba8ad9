"""Every validated finalist is a change set with its verdict (issue 11): the list filters by verdict,
a `reject` is accepted only with an audited override by a user with approve:agents, and auto-apply
never touches anything but `recommend`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlmodel import select

from integration.scans.conftest import DEMO_SEED, Live
from spectral.platform.workspaces.models import AuditLogEntry
from spectral_cli.demo.seeding import SeededWorkspace, seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace, demo_workspace

pytestmark = pytest.mark.postgres


async def _strict_scan(seeded: SeededWorkspace, level: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Guardrails no fix can meet (cost and latency may not rise at all): validated gains get `reject`."""
    body = {"level": level, "guardrails": {"max_cost_increase_pct": 0, "max_latency_increase_pct": 0}}
    response = await seeded.client.put(f"{seeded.ws}/autonomy", json=body, headers=seeded.headers)
    assert response.status_code == 200, response.text
    scan = await seeded.wait_for((await seeded.start_scan()).json()["id"])
    assert scan["status"] == "succeeded", scan
    listed = await seeded.client.get(f"{seeded.ws}/changesets?scan_id={scan['id']}", headers=seeded.headers)
    return scan, listed.json()["results"]


async def test_rejected_finalists_are_kept_filtered_and_accepted_only_with_an_audited_override(
    live: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    client, h, ws = live.client, seeded.headers, seeded.ws
    scan, changesets = await _strict_scan(seeded, "suggest")
    rejected = [c for c in changesets if c["verdict"] == "reject"]
    assert rejected, (scan["summary"], changesets)
    # The scan's summary, its last event and the change sets agree on the count.
    assert scan["summary"]["n_changesets"] == len(changesets)
    assert scan["summary"]["n_rejected"] == len(rejected)
    events = (await client.get(f"{ws}/scans/{scan['id']}/events", headers=h)).json()["results"]
    counted = [e["data"]["n_changesets"] for e in events if "n_changesets" in e["data"]]
    assert counted == [len(changesets)]

    def touched(changeset: dict[str, Any]) -> set[tuple[str, str]]:
        return {(d["kind"], d["key"]) for d in changeset["diff"]}

    # A guardrail rejection, and another rejected change set over the same part of the config.
    guardrail, clash = next(
        (one, other)
        for one in rejected
        if "> guardrail 0%" in one["validation"]["verdict_reason"]
        for other in rejected
        if other["id"] != one["id"] and touched(one) & touched(other)
    )
    assert guardrail["validation"]["verdict_reason"].startswith("objective ")
    assert "Holdout: objective " in guardrail["rationale"]
    impact = guardrail["expected_impact"]
    validation = guardrail["validation"]
    measured = 100 * (validation["candidate_cost_usd"] / validation["baseline_cost_usd"] - 1)
    assert impact["measured_cost_change_pct"] == pytest.approx(measured)
    # The measured change is the one the guardrail was judged on, with its interval.
    assert impact["measured_cost_change_pct"] == validation["cost_interval"]["change_pct"]
    assert validation["cost_interval"]["low_pct"] > 0
    # The intervals' level is stated where they are shown (one look at this small holdout: 95%).
    assert impact["ci_level"] == validation["ci_level"] == 0.95
    # Predicted from the traces beside measured on the holdout, wherever a proposer predicts.
    predicted = [c for c in changesets if c["expected_impact"]["predicted_cost_change_pct"] is not None]
    assert predicted, [c["title"] for c in changesets]
    assert all(c["expected_impact"]["measured_cost_change_pct"] is not None for c in predicted)

    only = (await client.get(f"{ws}/changesets?scan_id={scan['id']}&verdict=reject", headers=h)).json()
    assert only["pagination"]["total"] == len(rejected)
    assert {c["id"] for c in only["results"]} == {c["id"] for c in rejected}
    unknown = await client.get(f"{ws}/changesets?verdict=maybe", headers=h)
    assert unknown.status_code == 422

    config_url = f"{ws}/agents/{seeded.agent_id}"
    version_before = (await client.get(config_url, headers=h)).json()["active_version"]
    cs_url = f"{ws}/changesets/{guardrail['id']}"
    for body in (None, {"override": False}):
        refused = await client.post(f"{cs_url}/accept", headers=h, json=body)
        assert refused.status_code == 400, refused.text
        assert "override" in refused.json()["detail"]
    bad = await client.post(f"{cs_url}/accept", headers=h, json={"override": "please", "x": 1})
    assert bad.status_code == 422
    key = await seeded.api_key(["read:agents"])
    forbidden = await client.post(f"{cs_url}/accept", headers=key, json={"override": True})
    assert forbidden.status_code == 403
    # Nothing moved: still proposed, same active version, no accept in the audit log.
    assert (await client.get(cs_url, headers=h)).json()["status"] == "proposed"
    assert (await client.get(config_url, headers=h)).json()["active_version"] == version_before
    async with live.db.session() as session:
        entries = (
            await session.exec(select(AuditLogEntry).where(AuditLogEntry.resource_id == guardrail["id"]))
        ).all()
    assert entries == []

    accepted = await client.post(f"{cs_url}/accept", headers=h, json={"override": True})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["verdict"] == "reject"
    async with live.db.session() as session:
        entry = (
            await session.exec(select(AuditLogEntry).where(AuditLogEntry.resource_id == guardrail["id"]))
        ).one()
    assert entry.action == "changeset.accept"
    assert entry.after is not None
    assert entry.after["override"] is True
    assert entry.after["verdict"] == "reject"
    assert uuid.UUID(accepted.json()["id"]) == uuid.UUID(guardrail["id"])
    again = await client.post(f"{cs_url}/accept", headers=h, json={"override": True})
    assert again.status_code == 400
    assert again.json()["type"].endswith("/invalid-transition")

    # The other rejected change set over the same part of the config: the config moved on since
    # the scan, so even with an override accepting it is a 409 that changes nothing.
    version_now = (await client.get(config_url, headers=h)).json()["active_version"]
    conflict = await client.post(f"{ws}/changesets/{clash['id']}/accept", headers=h, json={"override": True})
    assert conflict.status_code == 409, conflict.text
    assert conflict.headers["content-type"].startswith("application/problem+json")
    assert "changed since" in conflict.json()["detail"]
    assert (await client.get(f"{ws}/changesets/{clash['id']}", headers=h)).json()["status"] == "proposed"
    assert (await client.get(config_url, headers=h)).json()["active_version"] == version_now
    async with live.db.session() as session:
        clash_entries = (
            await session.exec(select(AuditLogEntry).where(AuditLogEntry.resource_id == clash["id"]))
        ).all()
    assert clash_entries == []


async def test_auto_apply_never_touches_a_rejected_change_set(
    live: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    _, changesets = await _strict_scan(seeded, "auto_apply")
    assert any(c["verdict"] == "reject" for c in changesets)
    assert all(c["verdict"] != "recommend" for c in changesets if "> guardrail" in (c["rationale"]))
    assert {c["status"] for c in changesets if c["verdict"] != "recommend"} == {"proposed"}
    assert all(c["decided_by"] is None for c in changesets if c["verdict"] != "recommend")


async def test_a_scan_of_too_few_analysis_traces_says_so_with_the_minimum(
    live: Live, demo_agent_url: str
) -> None:
    """The scan goes on with what it has (a cluster may still form), and says where the user looks
    that the window is too small, with the minimum: the summary's notes and a warning event."""
    seeded = await seed_workspace(live.client, demo_workspace(DEMO_SEED, n_traces=40), demo_agent_url)
    scan = await seeded.wait_for((await seeded.start_scan()).json()["id"])
    assert scan["status"] == "succeeded", scan
    summary = scan["summary"]
    [note] = [n for n in summary["notes"] if "analysis traces" in n]
    assert note.startswith(f"only {summary['n_analysis']} analysis traces: at least 50 are needed")
    events = (await live.client.get(f"{seeded.ws}/scans/{scan['id']}/events", headers=seeded.headers)).json()
    [warning] = [e for e in events["results"] if e["message"] == note]
    assert warning["level"] == "warning"
    assert warning["data"]["minimum"] == 50
    assert warning["data"]["n_analysis"] == summary["n_analysis"] < 50
