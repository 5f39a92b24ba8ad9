"""Reading `/metrics` as Prometheus does, with prometheus-client's own text parser."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when there is none)."""
    return sum(
        float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def present(text: str, name: str, **labels: str) -> bool:
    return any(
        s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        for family in text_string_to_metric_families(text)
        for s in family.samples
    )


def exposition(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def scrape(client: httpx.AsyncClient, url: str = "/metrics") -> str:
    return exposition(await client.get(url))


async def scan_events(
    client: httpx.AsyncClient, scan_url: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """Every event of a scan, page after page."""
    events: list[dict[str, Any]] = []
    after = ""
    while True:
        page = (await client.get(f"{scan_url}/events?limit=500{after}", headers=headers)).json()
        if not page["results"]:
            return events
        events += page["results"]
        after = f"&after={page['next_after']}"


def assert_one_scan_moved(
    before: str, after: str, scan: dict[str, Any], events: list[dict[str, Any]], *, runner: str
) -> None:
    """What one succeeded scan adds to the series of the process that ran it: one finished scan, one
    phase duration per phase output (each logged as "<phase> finished"), and the replays, their
    durations and their cost exactly as the scan's own summary reports them."""

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("spectral_scans_finished_total", status="succeeded") == 1
    phases = Counter(e["phase"] for e in events if e["message"] == f"{e['phase']} finished")
    assert set(phases) >= {"collect", "evaluate", "diagnose", "propose", "experiment", "report"}
    for phase, outputs in phases.items():
        assert moved("spectral_scan_phase_duration_seconds_count", phase=phase) == outputs, phase
    assert moved("spectral_scan_phase_duration_seconds_count") == sum(phases.values())
    replays = scan["summary"]["replay_calls"]
    assert replays > 0
    assert moved("spectral_replay_calls_total", runner=runner) == replays
    assert moved("spectral_replay_duration_seconds_count", runner=runner) == replays
    assert moved("spectral_replay_cost_usd_total", runner=runner) == pytest.approx(
        scan["summary"]["replay_cost_usd"]
    )
    assert moved("spectral_jobs_total", job="run_scan", outcome="ok") == 1
