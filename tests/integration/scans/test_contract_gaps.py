"""Contract gaps of scans and change set clusters found by calling the API as documented: cancel
answers with the scan as it now is and its Location; a change set's clusters are a paginated
collection that honours limit and offset."""

from __future__ import annotations

import pytest

from integration.scans.conftest import Gated, Live
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace

pytestmark = pytest.mark.postgres


async def test_cancel_answers_with_the_scan_as_it_now_is_and_its_location(
    gated: Gated, demo: DemoWorkspace
) -> None:
    seeded = await seed_workspace(gated.live.client, demo, None)
    scan_id = (await seeded.start_scan()).json()["id"]
    cancelled = await gated.live.client.post(f"{seeded.ws}/scans/{scan_id}/cancel", headers=seeded.headers)
    assert cancelled.status_code == 202
    assert cancelled.headers["location"] == f"{seeded.ws}/scans/{scan_id}"
    body = cancelled.json()
    assert body["id"] == scan_id
    assert body["status"] == "cancelled"
    assert body["cancel_requested"] is True
    assert body == await seeded.scan(scan_id)


async def test_a_change_sets_clusters_are_a_paginated_collection(live: Live, demo: DemoWorkspace) -> None:
    seeded = await seed_workspace(live.client, demo, None)
    scan = await seeded.wait_for((await seeded.start_scan(strategies=["playbook"])).json()["id"])
    assert scan["status"] == "succeeded", scan
    changesets = (
        await live.client.get(
            f"{seeded.ws}/changesets", params={"scan_id": scan["id"]}, headers=seeded.headers
        )
    ).json()["results"]
    changeset = max(changesets, key=lambda c: len(c["clusters"]))
    url = f"{seeded.ws}/changesets/{changeset['id']}/clusters"
    everything = await live.client.get(url, params={"limit": 200}, headers=seeded.headers)
    assert everything.status_code == 200
    page = everything.json()
    total = page["pagination"]["total"]
    assert total == len(page["results"]) == len(changeset["clusters"])
    assert page["pagination"] == {"total": total, "limit": 200, "offset": 0}
    first = (await live.client.get(url, params={"limit": 1}, headers=seeded.headers)).json()
    assert first["results"] == page["results"][:1]
    assert first["pagination"] == {"total": total, "limit": 1, "offset": 0}
    rest = (await live.client.get(url, params={"limit": 1, "offset": 1}, headers=seeded.headers)).json()
    assert rest["results"] == page["results"][1:2]
    too_big = await live.client.get(url, params={"limit": 201}, headers=seeded.headers)
    assert too_big.status_code == 422
