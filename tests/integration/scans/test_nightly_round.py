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
