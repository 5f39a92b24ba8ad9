"""The supervisor's nightly round (a worker cron): scans start in workspaces that let it act,
once per night, and never in one that only observes."""

from __future__ import annotations

from integration.scans.conftest import Live
from spectral.platform.shared.clock import utcnow
from spectral.platform.supervisor.jobs import run_nightly_plans
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace


def _ctx(live: Live, *, hour: int) -> dict[str, object]:
    settings = live.app.state.spectral.settings.model_copy(update={"nightly_hour_utc": hour})
    return {"db": live.db, "settings": settings, "queue": live.queue}


async def test_the_nightly_round_scans_acting_workspaces_once(embedded: Live, demo: DemoWorkspace) -> None:
    # A database of its own: the round crosses every workspace in it.
    live = embedded
    acting = await seed_workspace(live.client, demo, None)  # autonomy: suggest
    observing = await seed_workspace(live.client, demo, None)
    put = await live.client.put(
        f"{observing.ws}/autonomy", json={"level": "observe"}, headers=observing.headers
    )
    assert put.status_code == 200
    now = utcnow().hour

    assert await run_nightly_plans(_ctx(live, hour=(now + 1) % 24)) == 0  # not the nightly hour
    assert await run_nightly_plans(_ctx(live, hour=now)) == 1
    scans = (await live.client.get(f"{acting.ws}/scans", headers=acting.headers)).json()["results"]
    assert [s["created_by"] for s in scans] == ["supervisor"]
    await acting.wait_for(scans[0]["id"])
    assert (await live.client.get(f"{observing.ws}/scans", headers=observing.headers)).json()["results"] == []
    # Nothing new since that scan: the same night's second tick starts nothing.
    assert await run_nightly_plans(_ctx(live, hour=now)) == 0


async def test_a_nightly_scan_at_auto_apply_applies_only_what_the_rule_confirms(
    embedded: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    """The supervisor's own scans go through auto-apply's rule like any scan: of the recommended
    change sets, the one applied has the whole interval of its cost and p95 latency changes within
    the guardrails, and each one left for a human says why in the supervisor's state."""
    live = embedded
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    limits = {"max_cost_increase_pct": 20.0, "max_latency_increase_pct": 50.0}
    body = {"level": "auto_apply", "guardrails": {**limits, "require_human_for": []}}
    put = await live.client.put(f"{seeded.ws}/autonomy", json=body, headers=seeded.headers)
    assert put.status_code == 200
    assert await run_nightly_plans(_ctx(live, hour=utcnow().hour)) == 1
    [scan] = (await live.client.get(f"{seeded.ws}/scans", headers=seeded.headers)).json()["results"]
    assert (await seeded.wait_for(scan["id"]))["status"] == "succeeded"
    listed = await live.client.get(f"{seeded.ws}/changesets?scan_id={scan['id']}", headers=seeded.headers)
    recommended = [c for c in listed.json()["results"] if c["verdict"] == "recommend"]
    assert recommended
    state = (await live.client.get(f"{seeded.ws}/supervisor/state", headers=seeded.headers)).json()
    waiting = {c["id"]: c["held_back"] for c in state["waiting_for_human"]}
    applied = [c for c in recommended if c["status"] == "applied"]
    assert len(applied) == 1, [c["validation"]["verdict_reason"] for c in recommended]
    for changeset in recommended:
        validation = changeset["validation"]
        confirmed = (
            validation["cost_interval"]["high_pct"] <= limits["max_cost_increase_pct"]
            and validation["latency_interval"]["high_pct"] <= limits["max_latency_increase_pct"]
        )
        if changeset in applied:
            assert confirmed
            assert changeset["decided_by"] == "supervisor"
            continue
        assert changeset["status"] == "proposed"
        reasons = waiting[changeset["id"]]
        # Left for a human: a guardrail its holdout cannot confirm, or auto-apply took a better one.
        if not confirmed:
            assert any(reason.startswith(("cost", "p95 latency")) for reason in reasons), reasons
        else:
            assert applied
    actions = [a["action"] for a in state["recent_actions"]]
    assert actions.count("changeset.accept") == len(applied)
    assert actions[-1] == "scan.start"
