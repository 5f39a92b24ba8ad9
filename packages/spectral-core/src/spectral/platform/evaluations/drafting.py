"""Rubrics from evidence, without an LLM: a draft rubric inferred from an agent's traces, and the
blind spots of an existing rubric (traces users disliked, or that failed, yet pass every dimension).

Pure functions over the engine's `Trace` values; the service loads the traces.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spectral.engine import types as engine
from spectral.engine.scoring import TRUNCATED_FINISH_REASONS, CompiledRubric, score_traces

Checkpoint = Callable[[], None]

# A signal must show in at least this share of traces before a dimension is drafted for it.
JSON_SHARE = 0.5
MEASURED_SHARE = 0.5
NEGATIVE_FEEDBACK = 0.5
MAX_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class DraftDimension:
    dimension: engine.Dimension
    reason: str
    observed: dict[str, Any] = field(default_factory=dict)


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def nice_ceiling(value: float) -> float:
    """`value` rounded up to two significant digits (1234 -> 1300, 0.00234 -> 0.0024)."""
    if value <= 0:
        return value
    step = 10 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / step - 1e-9) * step, 12)


def _is_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return False
    try:
        json.loads(stripped)
    except (ValueError, RecursionError):
        return False
    return True


def _dimension(
    key: str, name: str, scorer: engine.ScorerType, params: dict[str, Any], **kw: Any
) -> engine.Dimension:
    return engine.Dimension(key=key, name=name, scorer=engine.ScorerSpec(scorer, params), **kw)


def _json_share(outputs: Sequence[str], checkpoint: Checkpoint) -> float:
    json_count = 0
    for output in outputs:
        checkpoint()
        json_count += _is_json(output)
    return json_count / len(outputs) if outputs else 0.0


def draft_dimensions(
    traces: Sequence[engine.Trace],
    checkpoint: Checkpoint,
    *,
    latency_allowance_pct: float = 0.0,
    cost_allowance_pct: float = 0.0,
) -> list[DraftDimension]:
    """Dimensions the traces give evidence for. `llm_judge` is never drafted here: it needs a
    configured provider, and a draft must not promise scores nobody can compute. `checkpoint` is
    called between traces where the work is per trace; raise from it to stop.

    The latency and cost limits are the observed p95 raised by the allowances (the workspace's
    guardrails): at the bare p95, every trace just under it fails as soon as a change adds a little
    to every call (an instruction in the prompt, a few tokens), and validation rejects a fix the
    guardrails accept for "regressing" the dimension; above the allowance a regression still shows."""
    n = len(traces)
    if n == 0:
        return []
    drafts: list[DraftDimension] = []
    outputs = [t.output for t in traces if t.output.strip()]
    json_share = _json_share(outputs, checkpoint)
    if json_share >= JSON_SHARE:
        drafts.append(
            DraftDimension(
                _dimension(
                    "json_output", "Output is valid JSON", engine.ScorerType.JSON_VALID, {}, weight=2.0
                ),
                f"{json_share:.0%} of outputs are JSON",
                {"json_share": round(json_share, 4)},
            )
        )
    errors = sum(t.status is engine.TraceStatus.ERROR for t in traces)
    drafts.append(
        DraftDimension(
            _dimension("no_error", "No error", engine.ScorerType.NO_ERROR, {}, weight=2.0),
            "every agent run should finish without an error",
            {"error_share": round(errors / n, 4)},
        )
    )
    tool_traces = [t for t in traces if t.tool_calls or any(s.kind == "tool" for s in t.spans)]
    if tool_traces:
        names = sorted(
            {c.name for t in tool_traces for c in t.tool_calls}
            | {s.name for t in tool_traces for s in t.spans if s.kind == "tool"}
        )
        failing = sum(
            any(c.error is not None for c in t.tool_calls)
            or any(s.kind == "tool" and s.status is engine.TraceStatus.ERROR for s in t.spans)
            for t in tool_traces
        )
        drafts.append(
            DraftDimension(
                _dimension("tool_success", "Tool calls succeed", engine.ScorerType.TOOL_SUCCESS, {}),
                f"{len(tool_traces)} trace(s) call tools",
                {
                    "traces_with_tools": len(tool_traces),
                    "failing_share": round(failing / len(tool_traces), 4),
                    "tools": names,
                },
            )
        )
    truncated = sum(t.finish_reason in TRUNCATED_FINISH_REASONS for t in traces)
    if truncated:
        drafts.append(
            DraftDimension(
                _dimension("not_truncated", "Output not truncated", engine.ScorerType.NOT_TRUNCATED, {}),
                f"{truncated} trace(s) stopped at the token limit",
                {"truncated_share": round(truncated / n, 4)},
            )
        )
    with_feedback = [t for t in traces if t.feedback]
    if with_feedback:
        mean = sum(sum(t.feedback) / len(t.feedback) for t in with_feedback) / len(with_feedback)
        drafts.append(
            DraftDimension(
                _dimension(
                    "user_feedback",
                    "Users are satisfied",
                    engine.ScorerType.FEEDBACK,
                    {"aggregate": "mean"},
                    threshold=0.5,
                ),
                f"{len(with_feedback)} trace(s) carry user feedback",
                {"traces_with_feedback": len(with_feedback), "mean_feedback": round(mean, 4)},
            )
        )
    latencies = [t.latency_ms for t in traces if t.latency_ms is not None]
    if latencies and len(latencies) >= MEASURED_SHARE * n:
        p50, p95, p99 = (_percentile(latencies, q) for q in (50, 95, 99))
        drafts.append(
            DraftDimension(
                _dimension(
                    "latency",
                    "Latency within the observed p95",
                    engine.ScorerType.LATENCY_MAX_MS,
                    {"max_ms": nice_ceiling(max(p95, 1.0) * (1 + latency_allowance_pct / 100))},
                    weight=0.5,
                ),
                f"the limit is the observed p95 plus the latency guardrail (+{latency_allowance_pct:g}%), so a "
                "regression beyond what the guardrail accepts shows as failures",
                {
                    "p50_ms": round(p50, 1),
                    "p95_ms": round(p95, 1),
                    "p99_ms": round(p99, 1),
                    "allowance_pct": latency_allowance_pct,
                },
            )
        )
    costs = [t.cost_usd for t in traces if t.cost_usd is not None]
    if costs and len(costs) >= MEASURED_SHARE * n and max(costs) > 0:
        p50, p95 = (_percentile(costs, q) for q in (50, 95))
        drafts.append(
            DraftDimension(
                _dimension(
                    "cost",
                    "Cost within the observed p95",
                    engine.ScorerType.COST_MAX_USD,
                    {"max_usd": nice_ceiling(p95 * (1 + cost_allowance_pct / 100))},
                    weight=0.5,
                ),
                f"the limit is the observed p95 cost per trace plus the cost guardrail (+{cost_allowance_pct:g}%)",
                {"p50_usd": round(p50, 8), "p95_usd": round(p95, 8), "allowance_pct": cost_allowance_pct},
            )
        )
    return drafts


# --- blind spots ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlindSpotGroup:
    signature: tuple[tuple[str, str | None], ...]
    trace_ids: tuple[str, ...]
    reason: str
    proposed: engine.Dimension | None


def _failed_tool(trace: engine.Trace) -> str | None:
    for call in trace.tool_calls:
        if call.error is not None:
            return call.name
    for span in trace.spans:
        if span.kind == "tool" and span.status is engine.TraceStatus.ERROR:
            return span.name
    return None


def _signature(trace: engine.Trace) -> tuple[tuple[str, str | None], ...]:
    failed = trace.status is engine.TraceStatus.ERROR or _failed_tool(trace) is not None
    cause = "error" if failed else "negative_feedback"
    return (
        ("cause", cause),
        ("error_type", trace.error_type if trace.status is engine.TraceStatus.ERROR else None),
        ("tool", _failed_tool(trace)),
        ("finish_reason", trace.finish_reason if trace.finish_reason in TRUNCATED_FINISH_REASONS else None),
        ("model", trace.model),
    )


def _free_key(base: str, taken: set[str]) -> str:
    key, suffix = base, 2
    while key in taken:
        key, suffix = f"{base}_{suffix}", suffix + 1
    return key


def _proposal(
    signature: dict[str, str | None], taken: set[str], rubric: engine.Rubric
) -> tuple[engine.Dimension | None, str]:
    types = {d.scorer.type for d in rubric.dimensions}
    if signature["finish_reason"] is not None and engine.ScorerType.NOT_TRUNCATED not in types:
        return (
            _dimension(
                _free_key("not_truncated", taken), "Output not truncated", engine.ScorerType.NOT_TRUNCATED, {}
            ),
            "these outputs stopped at the token limit and nothing in the rubric checks it",
        )
    if signature["tool"] is not None:
        return (
            _dimension(
                _free_key(f"tool_{signature['tool']}".replace(" ", "_").lower()[:60], taken),
                f"Tool {signature['tool']} succeeds",
                engine.ScorerType.TOOL_SUCCESS,
                {"tools": [signature["tool"]]},
            ),
            f"tool {signature['tool']!r} failed in these traces and no dimension checks it",
        )
    if signature["cause"] == "error":
        return (
            _dimension(_free_key("no_error", taken), "No error", engine.ScorerType.NO_ERROR, {}),
            "these runs ended in an error that no dimension checks",
        )
    if engine.ScorerType.FEEDBACK not in types:
        return (
            _dimension(
                _free_key("user_feedback", taken),
                "Users are satisfied",
                engine.ScorerType.FEEDBACK,
                {"aggregate": "mean"},
                threshold=0.5,
            ),
            "users disliked these outputs but every dimension passes; score the feedback itself",
        )
    return (
        None,
        "no deterministic scorer separates these traces; an llm_judge dimension could, with a provider",
    )


def blind_spots(
    compiled: CompiledRubric, traces: Sequence[engine.Trace], checkpoint: Checkpoint
) -> tuple[int, list[BlindSpotGroup]]:
    """(number of blind-spot traces, groups largest first): traces with negative feedback or an
    error that pass every dimension of the rubric, grouped by what they have in common.
    `checkpoint` is called before each trace is scored; raise from it to stop."""
    suspicious = [
        t
        for t in traces
        if t.status is engine.TraceStatus.ERROR
        or _failed_tool(t) is not None
        or (t.feedback and min(t.feedback) < NEGATIVE_FEEDBACK)
    ]
    if not suspicious:
        return 0, []
    rubric = compiled.rubric
    table = score_traces(
        suspicious, compiled, engine.Objective(), engine.ObjectiveScales(), checkpoint=checkpoint
    )
    failed_rows: list[bool] = np.asarray(table.failed_cells.any(axis=1)).tolist()
    passing = [t for t, failed in zip(suspicious, failed_rows, strict=True) if not failed]
    groups: dict[tuple[tuple[str, str | None], ...], list[str]] = {}
    for trace in passing:
        groups.setdefault(_signature(trace), []).append(trace.trace_id)
    taken = {d.key for d in rubric.dimensions}
    result: list[BlindSpotGroup] = []
    for signature, trace_ids in sorted(groups.items(), key=lambda item: (-len(item[1]), repr(item[0]))):
        proposed, reason = _proposal(dict(signature), taken, rubric)
        if proposed is not None:
            taken.add(proposed.key)
        result.append(BlindSpotGroup(signature, tuple(sorted(trace_ids)), reason, proposed))
    return len(passing), result
