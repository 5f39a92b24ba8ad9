"""Scorers, rubric scoring and the objective (see `objective` for the normalisation)."""

from spectral.engine.scoring.evaluation import (
    CompiledRubric,
    JudgeRun,
    Judgments,
    ScoreTable,
    judge_traces,
    score_trace,
    score_traces,
)
from spectral.engine.scoring.objective import (
    VIOLATION_COST,
    VIOLATION_LATENCY,
    VIOLATION_MIN_DIMENSION_PREFIX,
    check_constraints,
    objective_scales_from,
    objective_scales_from_values,
    objective_values,
    p95,
)
from spectral.engine.scoring.scorers import (
    TRUNCATED_FINISH_REASONS,
    ScoreFn,
    compile_scorer,
    validate_scorer_params,
)

__all__ = [
    "TRUNCATED_FINISH_REASONS",
    "VIOLATION_COST",
    "VIOLATION_LATENCY",
    "VIOLATION_MIN_DIMENSION_PREFIX",
    "CompiledRubric",
    "JudgeRun",
    "Judgments",
    "ScoreFn",
    "ScoreTable",
    "check_constraints",
    "compile_scorer",
    "judge_traces",
    "objective_scales_from",
    "objective_scales_from_values",
    "objective_values",
    "p95",
    "score_trace",
    "score_traces",
    "validate_scorer_params",
]
