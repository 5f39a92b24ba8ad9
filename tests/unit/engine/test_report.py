"""Report rendering: canonical JSON and markdown."""

import dataclasses
import json

from spectral.engine.report import render_markdown, report_json
from spectral.engine.types import AgentConfig, ReplayUsage, ScanConfig, ScanReport


def _report(objective: float) -> ScanReport:
    return ScanReport(
        config=ScanConfig(seed=1),
        baseline=AgentConfig(model="m"),
        n_traces=10,
        n_analysis=7,
        n_holdout=3,
        n_failing=2,
        baseline_objective=objective,
    )


def test_report_json_is_canonical() -> None:
    data = report_json(_report(0.1 + 0.2))
    assert data == report_json(_report(0.30000000000000004 - 1e-17))
    parsed = json.loads(data)
    assert list(parsed) == sorted(parsed)
    assert b" " not in data.replace(b"quality first", b"")


def test_markdown_has_the_summary_and_sections() -> None:
    text = render_markdown(_report(0.5))
    assert text.startswith("# Scan report")
    assert "Baseline objective: 0.5000" in text
    assert "No change set" in text


def test_markdown_states_replays_against_their_budget_and_round_trips() -> None:
    usage = ReplayUsage(calls=4800, cost_usd=6.25, budget_calls=7500, budget_usd=9.5, stopped_by_budget=True)
    report = dataclasses.replace(_report(0.5), replay=usage)
    text = render_markdown(report)
    assert "Replays of the agent: 4800 calls, $6.2500 (budget 7500 calls and $9.5000)" in text
    assert "the budget cut the scan short" in text
    assert ScanReport.from_dict(json.loads(report_json(report))).replay == usage
    assert "budget no limit" in render_markdown(_report(0.5))
