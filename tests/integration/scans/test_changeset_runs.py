"""Experiments on a sample set and validation runs on a scan's holdout: 202, run by the worker job,
results per input and in aggregate, verdicts as in docs/scans.md; and their error paths."""

from __future__ import annotations

from typing import Any

import pytest

from integration.scans.conftest import Live
from spectral_cli.demo.polling import poll_until, request_with_backoff
from spectral_cli.demo.seeding import SeededWorkspace, seed_workspace
from spectral_cli.demo.workspace import DemoWorkspace

pytestmark = pytest.mark.postgres


async def _wait_run(seeded: SeededWorkspace, url: str) -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        run: dict[str, Any] = (
            await request_with_backoff(seeded.client, "GET", url, headers=seeded.headers)
        ).json()
        return run

    return await poll_until(fetch, lambda run: run["status"] not in {"queued", "running"})


async def _sample_set(seeded: SeededWorkspace, demo: DemoWorkspace, n: int) -> str:
    """A sample set of the first `n` distinct inputs of the demo's traffic."""
    created = await seeded.client.post(
        f"{seeded.ws}/samples",
        json={"name": "support questions", "agent_id": seeded.agent_id},
        headers=seeded.headers,
    )
    assert created.status_code == 201, created.text
    set_id: str = created.json()["id"]
    distinct = list(
        dict.fromkeys(trace.input for trace in demo.synthetic.traces if isinstance(trace.input, str))
    )
    items = [{"input": text} for text in distinct[:n]]
    added = await seeded.client.post(
        f"{seeded.ws}/samples/{set_id}/items", json={"items": items}, headers=seeded.headers
    )
    assert added.status_code in (200, 201), added.text
    return set_id


async def test_validation_run_and_experiment_of_a_recommended_change_set(
    live: Live, demo: DemoWorkspace, demo_agent_url: str
) -> None:
    seeded = await seed_workspace(live.client, demo, demo_agent_url)
    scan = await seeded.wait_for((await seeded.start_scan()).json()["id"])
    listed = (
        await live.client.get(f"{seeded.ws}/changesets?scan_id={scan['id']}", headers=seeded.headers)
    ).json()
    changeset = next(c for c in listed["results"] if c["verdict"] == "recommend")

    started = await live.client.post(
        f"{seeded.ws}/changesets/{changeset['id']}/validation", headers=seeded.headers
    )
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    run = await _wait_run(seeded, started.headers["location"])
    assert run["status"] == "succeeded", run
    result = run["result"]
    assert result["verdict"] == "recommend"
    # The same holdout, the same candidate, the same bootstrap: the scan's own figures again.
    assert result["ci_low"] == pytest.approx(changeset["validation"]["ci_low"])
    assert result["mean_difference"] == pytest.approx(changeset["validation"]["mean_difference"])
    assert result["constraint_checks"] is not None
    runs = (
        await live.client.get(f"{seeded.ws}/changesets/{changeset['id']}/validation", headers=seeded.headers)
    ).json()
    assert [r["id"] for r in runs["results"]] == [run["id"]]

    set_id = await _sample_set(seeded, demo, 60)
    body = {
        "agent_id": seeded.agent_id,
        "changeset_id": changeset["id"],
        "sample_set_id": set_id,
        "rubric_id": seeded.rubric_id,
        "objective_id": seeded.objective_id,
    }
    started = await live.client.post(f"{seeded.ws}/changesets/experiments", json=body, headers=seeded.headers)
    assert started.status_code == 202, started.text
    experiment = await _wait_run(seeded, started.headers["location"])
    assert experiment["status"] == "succeeded", experiment
    assert len(experiment["results"]) == 60
    row = experiment["results"][0]
    assert {"baseline", "candidate", "objective_difference"} <= set(row)
    aggregate = experiment["aggregate"]["result"]
    assert aggregate["n_inputs"] == 60
    assert aggregate["candidate_objective"] > aggregate["baseline_objective"]
    listed = (await live.client.get(f"{seeded.ws}/changesets/experiments", headers=seeded.headers)).json()
    assert listed["pagination"]["total"] == 1


async def test_experiment_and_validation_errors(live: Live, demo: DemoWorkspace) -> None:
    seeded = await seed_workspace(live.client, demo, None)
    set_id = await _sample_set(seeded, demo, 5)
    base = {
        "agent_id": seeded.agent_id,
        "sample_set_id": set_id,
        "rubric_id": seeded.rubric_id,
        "objective_id": seeded.objective_id,
    }
    url = f"{seeded.ws}/changesets/experiments"

    neither = await live.client.post(url, json=base, headers=seeded.headers)
    assert neither.status_code == 422
    bad_config = await live.client.post(
        url, json={**base, "candidate_config": {"params": {}}}, headers=seeded.headers
    )
    assert bad_config.status_code == 422
    assert ["body", "candidate_config", "model"] in [e["loc"] for e in bad_config.json()["errors"]]

    empty = (
        await live.client.post(f"{seeded.ws}/samples", json={"name": "empty"}, headers=seeded.headers)
    ).json()
    no_items = await live.client.post(
        url,
        json={**base, "sample_set_id": empty["id"], "candidate_config": {"model": "gpt-4o"}},
        headers=seeded.headers,
    )
    assert no_items.status_code == 400

    # Without a replay_url nothing can run the candidate: the run fails and says why.
    started = await live.client.post(
        url, json={**base, "candidate_config": {"model": "gpt-4o-mini"}}, headers=seeded.headers
    )
    assert started.status_code == 202
    failed = await _wait_run(seeded, started.headers["location"])
    assert failed["status"] == "failed"
    assert "replay_url" in failed["error"]

    unknown = await live.client.post(
        f"{seeded.ws}/changesets/{seeded.agent_id}/validation", headers=seeded.headers
    )
    assert unknown.status_code == 404
    assert (await live.client.get(f"{url}/{seeded.agent_id}", headers=seeded.headers)).status_code == 404
