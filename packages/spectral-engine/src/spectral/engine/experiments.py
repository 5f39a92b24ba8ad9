"""A change set tried on a sample set, outside a scan (`POST changesets/experiments`).

Baseline and candidate replay the same inputs and are scored by the same rubric, objective and
scales, so every input gives a paired difference. The aggregate is the scan's own `search.compare`;
its uncertainty is the session bootstrap of phase 6 (`stats.paired_bootstrap`), because inputs of
one session are correlated. No verdict: an experiment informs, only a holdout validation decides.
"""

from __future__ import annotations

from collections.abc import Sequence

from spectral.engine.protocols import Runner
from spectral.engine.scoring import CompiledRubric, objective_scales_from
from spectral.engine.search import (
    STAGE_SAMPLES,
    Checkpoint,
    Evaluation,
    compare,
    config_key,
    never_cancelled,
    replay,
)
from spectral.engine.stats import paired_bootstrap
from spectral.engine.types import (
    MAX_OUTPUT_CHARS,
    AgentConfig,
    ExperimentReport,
    ExperimentRow,
    Objective,
    ObjectiveScales,
    ReplayInput,
    ReplayOutcome,
    Rubric,
)

# Replays per runner call, as a scan's validation batches them; cancellation is checked between.
_BATCH_SIZE = 32


async def run_experiment(
    *,
    baseline: AgentConfig,
    candidate: AgentConfig,
    inputs: Sequence[ReplayInput],
    rubric: Rubric,
    objective: Objective,
    runner: Runner,
    seed: int = 0,
    scales: ObjectiveScales | None = None,
    candidate_id: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> ExperimentReport:
    """Replay `baseline` and `candidate` on `inputs`, score both, and compare them per input.

    `scales` default to those of the baseline's replays (a scan fixes them from its baseline traces
    the same way); `seed` fixes the bootstrap, so the same replies give the same report.
    `candidate_id` names the result (default: a hash of the config). Raises `ScanCancelled` when
    `checkpoint` does (awaited between replay batches) and ValueError without inputs.
    """
    if not inputs:
        raise ValueError("an experiment needs at least one input")
    check = checkpoint or never_cancelled
    base_traces = await replay(runner, baseline, inputs, checkpoint=check, batch_size=_BATCH_SIZE)
    cand_traces = await replay(runner, candidate, inputs, checkpoint=check, batch_size=_BATCH_SIZE)
    scales = scales or objective_scales_from(base_traces)
    compiled = CompiledRubric.compile(rubric)
    base = Evaluation.score(inputs, base_traces, compiled, objective, scales)
    cand = Evaluation.score(inputs, cand_traces, compiled, objective, scales)

    result = compare(candidate_id or config_key(candidate), STAGE_SAMPLES, base, cand)
    sessions = [item.session_id or item.key for item in inputs]
    differences = cand.table.objective - base.table.objective
    ci_low: float | None = None
    ci_high: float | None = None
    n_sessions = 0
    # The bootstrap needs at least one input scored on both sides (an all-llm_judge rubric scores
    # nothing on replays); without one the report keeps its rows and says so by a missing CI.
    if result.n_inputs:
        boot = paired_bootstrap(differences, sessions, seed=seed)
        ci_low, ci_high, n_sessions = boot.low, boot.high, boot.n_sessions

    rows = tuple(
        ExperimentRow(
            key=item.key,
            session_id=item.session_id,
            baseline=_outcome(base, index),
            candidate=_outcome(cand, index),
        )
        for index, item in enumerate(inputs)
    )
    return ExperimentReport(
        result=result,
        scales=scales,
        seed=seed,
        ci_low=ci_low,
        ci_high=ci_high,
        n_sessions=n_sessions,
        rows=rows,
    )


def _outcome(evaluation: Evaluation, index: int) -> ReplayOutcome:
    trace = evaluation.traces[index]
    return ReplayOutcome(
        output=trace.output[:MAX_OUTPUT_CHARS],
        score=evaluation.table.trace_score(index),
        cost_usd=trace.cost_usd,
        latency_ms=trace.latency_ms,
    )
