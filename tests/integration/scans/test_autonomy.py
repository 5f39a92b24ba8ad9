"""Workspace autonomy `auto_apply`: the scan accepts and applies its best validated `recommend`
change set itself, recorded as the supervisor, but only within every guardrail with confidence;
what it leaves to a human says why in the supervisor's state."""

from __future__ import annotations

from typing import Any

import pytest

from integration.scans.conftest import Live
from spectral_cli.demo.seeding import SeededWorkspace, seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace

pytestmark = pytest.mark.postgres


async def _autonomy(seeded: SeededWorkspace, **guardrails: Any) -> None:
    body = {"level": "auto_apply", "guardrails": guardrails}
    response = await seeded.client.put(f"{seeded.ws}/autonomy", json=body, headers=seeded.headers)
    assert response.status_code == 200, response.text


async def _scan_changesets(seeded: SeededWorkspace) -> list[dict[str, Any]]:
    scan = await seeded.wait_for((await seeded.start_scan()).json()["id"])
    assert scan["status"] == "succeeded", scan
    listed = await seeded.client.get(f"{seeded.ws}/changesets?scan_id={scan['id']}", headers=seeded.headers)
    results: list[dict[str, Any]] = listed.json()["results"]
    return results


async def test_auto_apply_applies_one_recommended_change_within_the_guardrails(
    live: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    # The demo agent's timing jitter leaves the p95 latency change +-30% wide on its holdout: a
    # latency guardrail that wide is one its changes meet with confidence (cost stays at +10%).
    await _autonomy(seeded, require_human_for=["model"], max_latency_increase_pct=50)
    changesets = await _scan_changesets(seeded)
    applied = [c for c in changesets if c["status"] == "applied"]
    assert len(applied) == 1, [
        (c["verdict"], c["strategy"], c["diff"][0]["kind"], (c["validation"] or {}).get("verdict_reason"))
        for c in changesets
    ]
    assert applied[0]["verdict"] == "recommend"
    assert applied[0]["decided_by"] == "supervisor"
    assert {c["status"] for c in changesets if c["id"] != applied[0]["id"]} <= {"proposed"}
    key = await seeded.api_key(["read:agents"])
    config = (await live.client.get(f"{seeded.ws}/agents/{seeded.agent_id}/config", headers=key)).json()
    assert config["version"] == applied[0]["promoted_version_number"]


async def test_auto_apply_waits_for_a_human_outside_the_guardrails(
    live: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    # Every recommended change edits a template or a parameter; both need a human here.
    await _autonomy(seeded, require_human_for=["template", "params"])
    changesets = await _scan_changesets(seeded)
    assert any(c["verdict"] == "recommend" for c in changesets)
    assert {c["status"] for c in changesets} == {"proposed"}


async def test_a_recommendation_whose_guardrail_its_holdout_cannot_confirm_waits_for_a_human(
    live: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    """At the default guardrails (+10% cost and p95 latency) the verdict recommends a change whose
    p95 latency is within +10% by its estimate; its interval reaches above, so auto-apply, with no
    human to read that reason, leaves it proposed and the supervisor's state says why."""
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    await _autonomy(seeded, require_human_for=["model"])
    changesets = await _scan_changesets(seeded)
    unconfirmed = [
        c
        for c in changesets
        if c["verdict"] == "recommend"
        and "this holdout cannot confirm it" in c["validation"]["verdict_reason"]
    ]
    assert unconfirmed, [(c["verdict"], (c["validation"] or {}).get("verdict_reason")) for c in changesets]
    assert {c["status"] for c in unconfirmed} == {"proposed"}
    assert all(c["decided_by"] is None for c in unconfirmed)
    # What it did apply is within both guardrails with confidence.
    for applied in (c for c in changesets if c["status"] == "applied"):
        assert applied["verdict"] == "recommend"
        assert applied["validation"]["cost_interval"]["high_pct"] <= 10.0
        assert applied["validation"]["latency_interval"]["high_pct"] <= 10.0
    state = (await live.client.get(f"{seeded.ws}/supervisor/state", headers=seeded.headers)).json()
    waiting = {c["id"]: c["held_back"] for c in state["waiting_for_human"]}
    for changeset in unconfirmed:
        latency = changeset["validation"]["latency_interval"]
        assert latency["high_pct"] > 10.0 >= latency["change_pct"]
        assert any(
            reason.startswith("p95 latency") and f"CI upper bound {latency['high_pct']:+.1f}%" in reason
            for reason in waiting[changeset["id"]]
        ), waiting
