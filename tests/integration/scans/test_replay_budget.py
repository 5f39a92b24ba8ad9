"""The replay budget per scan (issue 11, item 5) through the API: sized from the trace count by
default, enforced before each batch when set, and reported in the scan's cost, its summary and the
report, with an event when it cut the scan short."""

from __future__ import annotations

import pytest

from integration.scans.conftest import Live
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace

pytestmark = pytest.mark.postgres

# The demo's 900 traces size the default at the floor of 3,000 calls (2.5 per trace otherwise).
DEFAULT_CALLS = 3000
TIGHT_CALLS = 400


async def test_the_replay_budget_is_enforced_and_reported(
    live: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    client, h, ws = live.client, seeded.headers, seeded.ws

    unbounded = await seeded.wait_for((await seeded.start_scan()).json()["id"])
    assert unbounded["status"] == "succeeded", unbounded
    cost = (await client.get(f"{ws}/scans/{unbounded['id']}/cost", headers=h)).json()
    replay = cost["replay"]
    assert replay["budget_calls"] == DEFAULT_CALLS
    assert replay["budget_usd"] > replay["cost_usd"] > 0
    assert TIGHT_CALLS < replay["calls"] <= DEFAULT_CALLS
    assert unbounded["summary"]["replay_calls"] == replay["calls"]
    assert sum(m["calls"] for m in cost["models"] if m["source"] == "replay") == replay["calls"]

    started = await seeded.start_scan(replay_budget_calls=TIGHT_CALLS)
    assert started.status_code == 202, started.text
    tight = await seeded.wait_for(started.json()["id"])
    assert tight["status"] == "succeeded", tight
    replay = (await client.get(f"{ws}/scans/{tight['id']}/cost", headers=h)).json()["replay"]
    assert replay["budget_calls"] == TIGHT_CALLS
    assert 0 < replay["calls"] <= TIGHT_CALLS
    assert replay["stopped_by_budget"] is True
    assert tight["summary"]["replay_calls"] == replay["calls"]
    assert any("replay budget reached" in note for note in tight["summary"]["notes"])
    events = (await client.get(f"{ws}/scans/{tight['id']}/events", headers=h)).json()["results"]
    assert any(e["level"] == "warning" and "replay budget reached" in e["message"] for e in events)
    report = (await client.get(f"{ws}/scans/{tight['id']}/report", headers=h)).json()
    assert report["replay"]["calls"] == replay["calls"]
    markdown = await client.get(f"{ws}/scans/{tight['id']}/report", headers={**h, "Accept": "text/markdown"})
    assert f"budget {TIGHT_CALLS} calls" in markdown.text
    assert "the budget cut the scan short" in markdown.text

    refused = await seeded.start_scan(replay_budget_calls=0)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
