"""The scan report as canonical JSON and as markdown.

`report_json` is canonical so the same inputs and seed give byte-identical bytes: keys sorted, no
whitespace, floats rounded to `FLOAT_DIGITS` significant digits (the last bits of a float sum depend
on summation order, which is not part of what a scan concluded), non-finite floats as null.
"""

from __future__ import annotations

import json
import math
from typing import Any

from spectral.engine.types import ProposedChange, ScanReport, Verdict

FLOAT_DIGITS = 10


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = float(f"{value:.{FLOAT_DIGITS}g}")
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def report_json(report: ScanReport) -> bytes:
    """The report as canonical UTF-8 JSON."""
    return json.dumps(
        _canonical(report.to_dict()),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode()


def render_markdown(report: ScanReport) -> str:
    """A human-readable report: summary, change sets (recommended first), clusters and notes."""
    lines = ["# Scan report", ""]
    objective = "n/a" if report.baseline_objective is None else f"{report.baseline_objective:.4f}"
    lines += [
        f"- Traces: {report.n_traces} ({report.n_analysis} analysed, {report.n_holdout} held out)",
        f"- Failing analysis traces: {report.n_failing} in {len(report.clusters)} clusters",
        f"- Baseline objective: {objective} (model {report.baseline.model}, seed {report.config.seed})",
        f"- Replays of the agent: {_replays(report)}",
        "",
        "## Change sets",
        "",
    ]
    order = {Verdict.RECOMMEND: 0, Verdict.INCONCLUSIVE: 1, Verdict.REJECT: 2}
    changes = sorted(report.changes, key=lambda c: (order[c.verdict], c.candidate.candidate_id))
    if not changes:
        lines += ["No change set: nothing beat the baseline.", ""]
    for change in changes:
        lines += _change_section(change)
    lines += ["## Failure clusters", ""]
    if report.clusters:
        lines += ["| cluster | cause | size | share | impact | label |", "|---|---|---:|---:|---:|---|"]
        for cluster in report.clusters:
            label = cluster.label.replace("|", "\\|")
            lines.append(
                f"| {cluster.cluster_id} | {cluster.cause.value} | {cluster.size} | {cluster.share:.1%} | "
                f"{cluster.impact:.2f} | {label} |"
            )
        lines.append("")
    else:
        lines += ["No failing traces.", ""]
    if report.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in report.notes), ""]
    if report.cost_ledger:
        lines += ["## Replay cost by model", "", "| model | calls | tokens in | tokens out | cost (USD) |"]
        lines.append("|---|---:|---:|---:|---:|")
        for entry in report.cost_ledger:
            lines.append(
                f"| {entry.model} | {entry.calls} | {entry.input_tokens} | {entry.output_tokens} | "
                f"{entry.cost_usd:.4f} |"
            )
        lines.append("")
    return "\n".join(lines)


def _change_section(change: ProposedChange) -> list[str]:
    candidate = change.candidate
    estimated = " (estimated, not validated)" if candidate.estimated else ""
    lines = [f"### {candidate.candidate_id}: {change.verdict.value}{estimated}", ""]
    lines.append(
        f"Strategy: {candidate.strategy.value}. Clusters: {', '.join(candidate.cluster_ids) or 'none'}."
    )
    lines += ["", change.rationale, "", "Diff:", ""]
    for config_change in candidate.diff.changes:
        lines.append(f"- {config_change.describe()}")
        if (
            isinstance(config_change.after, str)
            and config_change.key is not None
            and "\n" in config_change.after
        ):
            lines += ["", "```text", config_change.after, "```", ""]
    validation = change.validation
    if validation is not None:
        lines += [
            "",
            f"Holdout: {validation.n_inputs} inputs in {validation.n_sessions} sessions; objective "
            f"{validation.mean_difference:+.4f}, 95% CI [{validation.ci_low:+.4f}, {validation.ci_high:+.4f}], "
            f"MDE {validation.mde:.4f}; cost {_pct(validation.cost_change_pct)} measured"
            f"{_predicted(change)}; p95 latency "
            f"{validation.baseline_latency_p95_ms:.0f} -> {validation.candidate_latency_p95_ms:.0f} ms.",
            f"Verdict: {validation.verdict_reason}.",
        ]
    elif change.expected_objective_gain is not None:
        lines += ["", f"Expected objective change: {change.expected_objective_gain:+.4f}{estimated}."]
    if change.evidence_trace_ids:
        lines += ["", f"Evidence traces: {', '.join(change.evidence_trace_ids)}."]
    lines.append("")
    return lines


def _replays(report: ScanReport) -> str:
    usage = report.replay
    budget = [
        f"{usage.budget_calls} calls" if usage.budget_calls is not None else "",
        f"${usage.budget_usd:.4f}" if usage.budget_usd is not None else "",
    ]
    stated = " and ".join(part for part in budget if part) or "no limit"
    stopped = "; the budget cut the scan short" if usage.stopped_by_budget else ""
    return f"{usage.calls} calls, ${usage.cost_usd:.4f} (budget {stated}){stopped}"


def _predicted(change: ProposedChange) -> str:
    predicted = change.predicted_cost_change_pct
    return "" if predicted is None else f" ({_pct(predicted)} predicted from the traces)"


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+.1f}%"
