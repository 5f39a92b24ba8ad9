"""Scoring traces against a rubric and an objective (phase 2, *evaluate*, and every replay).

`score_traces` returns a `ScoreTable`: column arrays (traces x dimensions) that clustering, search
and statistics consume without touching a Python object per cell, plus the reason of every cell.
`ScoreTable.trace_score(i)` gives the per-trace view (`TraceScore`) for reports and persistence.

The hot loop calls each dimension's precompiled `ScoreFn` once per trace and appends to flat lists;
arrays are built once at the end. LLM-judge results are computed beforehand (`judge_traces`, async)
and passed in as `judgments`, so scoring itself stays synchronous and cheap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from spectral.engine.errors import BudgetExhausted, InvalidRubricError
from spectral.engine.protocols import Judge, JudgeScore
from spectral.engine.scoring.objective import (
    VIOLATION_COST,
    VIOLATION_LATENCY,
    VIOLATION_MIN_DIMENSION_PREFIX,
    FloatArray,
    objective_values,
)
from spectral.engine.scoring.scorers import ScoreFn, compile_scorer
from spectral.engine.types import (
    DimensionScore,
    Objective,
    ObjectiveScales,
    Rubric,
    ScorerType,
    Trace,
    TraceScore,
)

BoolArray = npt.NDArray[np.bool_]
Judgments = Mapping[tuple[str, str], JudgeScore]
"""LLM-judge results keyed by (trace_id, dimension key)."""


@dataclass(frozen=True, slots=True)
class CompiledRubric:
    """A rubric with its scorers built once (params validated, regexes compiled)."""

    rubric: Rubric
    scorers: tuple[ScoreFn, ...]
    judged: tuple[bool, ...]

    @classmethod
    def compile(cls, rubric: Rubric) -> CompiledRubric:
        return cls(
            rubric=rubric,
            scorers=tuple(compile_scorer(d.scorer) for d in rubric.dimensions),
            judged=tuple(d.scorer.type is ScorerType.LLM_JUDGE for d in rubric.dimensions),
        )

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.rubric.dimensions)


@dataclass(frozen=True, slots=True, eq=False)
class ScoreTable:
    """Scores of n traces on d dimensions, column-wise. NaN marks unscored cells and unknown values.

    `failed_cells[i, j]` = dimension j scored below its threshold on trace i; `failed[i]` = any
    failed cell or constraint violation. Rows follow the order of the traces given.
    """

    trace_ids: tuple[str, ...]
    session_keys: tuple[str, ...]
    dimension_keys: tuple[str, ...]
    scores: FloatArray
    thresholds: FloatArray
    reasons: tuple[tuple[str, ...], ...]
    quality: FloatArray
    objective: FloatArray
    cost_usd: FloatArray
    latency_ms: FloatArray
    violations: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return len(self.trace_ids)

    @property
    def scored(self) -> BoolArray:
        return np.asarray(~np.isnan(self.scores))

    @property
    def failed_cells(self) -> BoolArray:
        with np.errstate(invalid="ignore"):
            return np.asarray(self.scored & (self.scores < self.thresholds))

    @property
    def violated(self) -> BoolArray:
        return np.fromiter((bool(v) for v in self.violations), dtype=np.bool_, count=len(self.violations))

    @property
    def failed(self) -> BoolArray:
        return np.asarray(self.failed_cells.any(axis=1) | self.violated)

    def column(self, key: str) -> FloatArray:
        return np.asarray(self.scores[:, self.dimension_keys.index(key)])

    def unscored_dimensions(self) -> tuple[str, ...]:
        """Dimensions that no trace could be scored on (e.g. llm_judge without a provider)."""
        scored_any: list[bool] = np.asarray(self.scored.any(axis=0)).tolist()
        return tuple(
            key for key, any_scored in zip(self.dimension_keys, scored_any, strict=True) if not any_scored
        )

    def trace_score(self, index: int) -> TraceScore:
        dimensions = []
        for column, key in enumerate(self.dimension_keys):
            value = float(self.scores[index, column])
            if np.isnan(value):
                dimensions.append(DimensionScore(key, None, None, self.reasons[index][column]))
            else:
                passed = value >= float(self.thresholds[column])
                dimensions.append(DimensionScore(key, value, passed, self.reasons[index][column]))
        quality = float(self.quality[index])
        objective = float(self.objective[index])
        return TraceScore(
            trace_id=self.trace_ids[index],
            dimensions=tuple(dimensions),
            quality=None if np.isnan(quality) else quality,
            objective=None if np.isnan(objective) else objective,
            violations=self.violations[index],
        )


def score_traces(
    traces: Sequence[Trace],
    rubric: Rubric | CompiledRubric,
    objective: Objective,
    scales: ObjectiveScales,
    *,
    judgments: Judgments | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> ScoreTable:
    """Score every trace on every dimension, then quality, objective and constraint violations.

    `checkpoint`, when given, is called before each trace; an exception it raises stops scoring
    there. Callers that must bound the time spent (a request, not a scan) raise from it."""
    compiled = rubric if isinstance(rubric, CompiledRubric) else CompiledRubric.compile(rubric)
    dimensions = compiled.rubric.dimensions
    keys = compiled.keys
    for key in objective.constraints.min_dimension:
        if key not in keys:
            raise InvalidRubricError(f"objective constraint min_dimension.{key}: no such rubric dimension")

    judged_columns = [j for j, judged in enumerate(compiled.judged) if judged]
    plain_columns = [(j, compiled.scorers[j]) for j, judged in enumerate(compiled.judged) if not judged]
    width = len(dimensions)
    nan = float("nan")

    flat_scores: list[float] = []
    reasons: list[tuple[str, ...]] = []
    costs: list[float] = []
    latencies: list[float] = []
    for trace in traces:
        if checkpoint is not None:
            checkpoint()
        row_scores = [nan] * width
        row_reasons = [""] * width
        for column, score_fn in plain_columns:
            value, reason = score_fn(trace)
            if value is not None:
                row_scores[column] = value
            row_reasons[column] = reason
        for column in judged_columns:
            judgment = judgments.get((trace.trace_id, keys[column])) if judgments else None
            if judgment is None:
                row_reasons[column] = "unscored: no LLM judge result"
            else:
                row_scores[column] = min(1.0, max(0.0, judgment.score))
                row_reasons[column] = judgment.reason
        flat_scores.extend(row_scores)
        reasons.append(tuple(row_reasons))
        costs.append(nan if trace.cost_usd is None else trace.cost_usd)
        latencies.append(nan if trace.latency_ms is None else trace.latency_ms)

    count = len(traces)
    scores = np.array(flat_scores, dtype=np.float64).reshape(count, width)
    weights = np.array([d.weight for d in dimensions], dtype=np.float64)
    thresholds = np.array([d.threshold for d in dimensions], dtype=np.float64)
    cost_usd = np.array(costs, dtype=np.float64)
    latency_ms = np.array(latencies, dtype=np.float64)

    scored = ~np.isnan(scores)
    weight_sum = (scored * weights).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        quality = np.where(weight_sum > 0, np.nansum(scores * weights, axis=1) / weight_sum, np.nan)
    objective_column = objective_values(quality, cost_usd, latency_ms, objective, scales)

    return ScoreTable(
        trace_ids=tuple(t.trace_id for t in traces),
        session_keys=tuple(t.session_key for t in traces),
        dimension_keys=keys,
        scores=scores,
        thresholds=thresholds,
        reasons=tuple(reasons),
        quality=np.asarray(quality, dtype=np.float64),
        objective=objective_column,
        cost_usd=cost_usd,
        latency_ms=latency_ms,
        violations=_violations(scores, keys, cost_usd, latency_ms, objective),
    )


def _violations(
    scores: FloatArray,
    keys: tuple[str, ...],
    cost_usd: FloatArray,
    latency_ms: FloatArray,
    objective: Objective,
) -> tuple[tuple[str, ...], ...]:
    constraints = objective.constraints
    masks: list[tuple[str, BoolArray]] = []
    with np.errstate(invalid="ignore"):
        if constraints.max_cost_usd_per_trace is not None:
            masks.append((VIOLATION_COST, cost_usd > constraints.max_cost_usd_per_trace))
        if constraints.max_p95_latency_ms is not None:
            masks.append((VIOLATION_LATENCY, latency_ms > constraints.max_p95_latency_ms))
        for key, minimum in sorted(constraints.min_dimension.items()):
            masks.append((VIOLATION_MIN_DIMENSION_PREFIX + key, scores[:, keys.index(key)] < minimum))
    empty: tuple[str, ...] = ()
    if not masks:
        return (empty,) * scores.shape[0]
    any_violation = np.logical_or.reduce([mask for _, mask in masks])
    result: list[tuple[str, ...]] = [empty] * scores.shape[0]
    for index in np.flatnonzero(any_violation):
        result[index] = tuple(name for name, mask in masks if mask[index])
    return tuple(result)


def score_trace(
    trace: Trace,
    rubric: Rubric | CompiledRubric,
    objective: Objective,
    scales: ObjectiveScales,
    *,
    judgments: Judgments | None = None,
) -> TraceScore:
    return score_traces([trace], rubric, objective, scales, judgments=judgments).trace_score(0)


@dataclass(frozen=True, slots=True)
class JudgeRun:
    """LLM-judge results for the `llm_judge` dimensions; pairs the judge declined stay unscored."""

    judgments: Mapping[tuple[str, str], JudgeScore]
    requested: int
    declined: int
    budget_exhausted: bool


async def judge_traces(
    traces: Sequence[Trace], rubric: Rubric, judge: Judge | None, *, concurrency: int = 8
) -> JudgeRun:
    """Ask the judge about every (trace, llm_judge dimension) pair.

    Without a judge nothing is requested and every such dimension stays unscored. When the judge
    raises `BudgetExhausted`, judging stops there: the results so far are kept, the rest stay unscored
    and `budget_exhausted` tells the caller to say so in an event.
    """
    dimensions = [d for d in rubric.dimensions if d.scorer.type is ScorerType.LLM_JUDGE]
    pairs = [(trace, dimension) for trace in traces for dimension in dimensions]
    if judge is None or not pairs:
        return JudgeRun(judgments={}, requested=0, declined=0, budget_exhausted=False)

    results: dict[tuple[str, str], JudgeScore] = {}
    declined = 0
    exhausted = False
    for start in range(0, len(pairs), concurrency):
        batch = pairs[start : start + concurrency]
        outcomes = await asyncio.gather(
            *(judge.judge(dimension, trace) for trace, dimension in batch), return_exceptions=True
        )
        for (trace, dimension), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BudgetExhausted):
                exhausted = True
            elif isinstance(outcome, BaseException):
                raise outcome
            elif outcome is None:
                declined += 1
            else:
                results[(trace.trace_id, dimension.key)] = outcome
        if exhausted:
            break
    return JudgeRun(judgments=results, requested=len(pairs), declined=declined, budget_exhausted=exhausted)
