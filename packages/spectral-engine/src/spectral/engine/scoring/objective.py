"""The objective and its constraints on normalised scales.

Per trace:

    quality   = sum(w_d * s_d) / sum(w_d)   over the dimensions d that were scored
    objective = w_q * quality - w_c * cost_usd / cost_ref_usd - w_l * latency_ms / latency_ref_ms

`cost_ref_usd` and `latency_ref_ms` (`ObjectiveScales`) are the *median* cost and latency of the
baseline traces, fixed once per scan by `objective_scales_from` and reused for every candidate. So a
cost weight of 0.1 reads "a trace that costs what the baseline's typical trace costs loses 0.1 quality
points", and the objective difference between candidate and baseline is the same linear function of
their quality, cost and latency differences on every input — nothing is re-normalised per candidate,
which would make the comparison depend on the candidate's own distribution. The median is used
because it is robust to the long tails of LLM cost and latency. Unknown cost or latency (not
recorded) contributes 0; a trace with no scored dimension has no quality and no objective (NaN).

Constraints per trace (a violation fails the trace in diagnosis): cost above
`max_cost_usd_per_trace`, latency above `max_p95_latency_ms` (a trace above the p95 limit is one of
the traces that push the p95 over), a dimension score below its `min_dimension`. On a whole run
(`check_constraints`, used at validation): mean cost per trace, p95 latency, and each dimension's mean
score against the same limits.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from spectral.engine.types import ConstraintCheck, Objective, ObjectiveScales, Trace

FloatArray = npt.NDArray[np.float64]

VIOLATION_COST = "max_cost_usd_per_trace"
VIOLATION_LATENCY = "max_p95_latency_ms"
VIOLATION_MIN_DIMENSION_PREFIX = "min_dimension."

_DEFAULT_SCALES = ObjectiveScales()


def objective_scales_from(traces: Iterable[Trace]) -> ObjectiveScales:
    """Reference scales from the baseline: median positive cost and median positive latency."""
    traces = list(traces)
    return _scales(
        [t.cost_usd for t in traces if t.cost_usd is not None and t.cost_usd > 0],
        [t.latency_ms for t in traces if t.latency_ms is not None and t.latency_ms > 0],
    )


def objective_scales_from_values(costs_usd: FloatArray, latencies_ms: FloatArray) -> ObjectiveScales:
    """Same as `objective_scales_from`, from arrays (NaN = unknown)."""
    return _scales(
        [float(c) for c in costs_usd if np.isfinite(c) and c > 0],
        [float(v) for v in latencies_ms if np.isfinite(v) and v > 0],
    )


def _scales(costs: list[float], latencies: list[float]) -> ObjectiveScales:
    return ObjectiveScales(
        cost_ref_usd=float(np.median(costs)) if costs else _DEFAULT_SCALES.cost_ref_usd,
        latency_ref_ms=float(np.median(latencies)) if latencies else _DEFAULT_SCALES.latency_ref_ms,
    )


def objective_values(
    quality: FloatArray,
    cost_usd: FloatArray,
    latency_ms: FloatArray,
    objective: Objective,
    scales: ObjectiveScales,
) -> FloatArray:
    """Vectorised objective; NaN where quality is NaN, unknown cost/latency count as 0."""
    weights = objective.weights
    cost_term = np.nan_to_num(cost_usd, nan=0.0) / scales.cost_ref_usd
    latency_term = np.nan_to_num(latency_ms, nan=0.0) / scales.latency_ref_ms
    return np.asarray(
        weights.quality * quality - weights.cost * cost_term - weights.latency * latency_term,
        dtype=np.float64,
    )


def p95(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, 95)) if finite.size else float("nan")


def check_constraints(
    objective: Objective,
    *,
    cost_usd: FloatArray,
    latency_ms: FloatArray,
    dimension_scores: dict[str, FloatArray],
) -> tuple[ConstraintCheck, ...]:
    """The objective's constraints on a whole run (e.g. a candidate on the holdout)."""
    constraints = objective.constraints
    checks: list[ConstraintCheck] = []
    if constraints.max_cost_usd_per_trace is not None:
        known = cost_usd[np.isfinite(cost_usd)]
        mean_cost = float(known.mean()) if known.size else None
        checks.append(
            ConstraintCheck(
                name=VIOLATION_COST,
                passed=mean_cost is None or mean_cost <= constraints.max_cost_usd_per_trace,
                value=mean_cost,
                limit=constraints.max_cost_usd_per_trace,
                detail="mean cost per trace" if mean_cost is not None else "no cost recorded",
            )
        )
    if constraints.max_p95_latency_ms is not None:
        latency = p95(latency_ms)
        known_latency = None if np.isnan(latency) else latency
        checks.append(
            ConstraintCheck(
                name=VIOLATION_LATENCY,
                passed=known_latency is None or known_latency <= constraints.max_p95_latency_ms,
                value=known_latency,
                limit=constraints.max_p95_latency_ms,
                detail="p95 latency" if known_latency is not None else "no latency recorded",
            )
        )
    for key, minimum in sorted(constraints.min_dimension.items()):
        scores = dimension_scores.get(key)
        scored = scores[np.isfinite(scores)] if scores is not None else np.empty(0)
        mean_score = float(scored.mean()) if scored.size else None
        checks.append(
            ConstraintCheck(
                name=VIOLATION_MIN_DIMENSION_PREFIX + key,
                passed=mean_score is None or mean_score >= minimum,
                value=mean_score,
                limit=minimum,
                detail=f"mean score of {key}" if mean_score is not None else f"{key} unscored",
            )
        )
    return tuple(checks)
