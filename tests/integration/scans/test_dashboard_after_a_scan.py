"""The dashboard and the supervisor once a scan has found something: clusters, change sets waiting,
and the next action pointing at them."""

from __future__ import annotations

from integration.scans.conftest import Live
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace


async def test_views_after_a_succeeded_scan(either: Live, demo: DemoWorkspace, demo_agent_url: str) -> None:
    """On PostgreSQL and on the embedded default's SQLite (the views use window functions)."""
    live = either
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    scan = await seeded.wait_for((await seeded.start_scan()).json()["id"])
    assert scan["status"] == "succeeded", scan
    get = live.client.get

    clusters = (await get(f"{seeded.ws}/supervisor/failures", headers=seeded.headers)).json()["clusters"]
    assert len(clusters) == scan["summary"]["n_clusters"]
    assert [c["impact"] for c in clusters] == sorted((c["impact"] for c in clusters), reverse=True)
    assert any(c["changesets"] for c in clusters)
    briefing = (await get(f"{seeded.ws}/morning-briefing", headers=seeded.headers)).json()
    assert briefing["scans"]["succeeded"] == 1
    assert briefing["changesets"]["proposed"] == scan["summary"]["n_changesets"]
    assert briefing["top_clusters"]
    assert briefing["lines"]
    control = (await get(f"{seeded.ws}/control-plane", headers=seeded.headers)).json()
    agent = control["agents"][0]
    assert agent["latest_scan"]["status"] == "succeeded"
    assert agent["latest_scan"]["n_recommended"] == scan["summary"]["n_recommended"]
    nxt = (await get(f"{seeded.ws}/supervisor/next-action", headers=seeded.headers)).json()
    assert nxt["action"] == "review_changeset"
    assert nxt["call"]["method"] == "POST"
