"""Report rendering: canonical JSON and markdown."""

import json

from spectral.engine.report import render_markdown, report_json
from spectral.engine.types import AgentConfig, ScanConfig, ScanReport


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
