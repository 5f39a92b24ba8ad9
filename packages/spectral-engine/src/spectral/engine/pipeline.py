"""The optimization scan: docs/scans.md's seven phases over plain data.

`run_scan` is what the platform's worker calls. Everything that needs I/O comes in as arguments: the
`Runner` replays the agent (absent = trace-based estimates only), the `Judge` scores `llm_judge`
dimensions, the `Generator` writes reflective rewrites, and the `ScanHooks` receive events, progress
and each phase's output and say when the scan was cancelled (checked between batches).

The holdout is chosen in *collect* by a keyed hash of (seed, session), so a session's traces stay on
one side and the split is the same on every run; nothing reads the holdout before *validate*.
Validation looks at the holdout once or twice (`holdout_looks`): a first look at
`max_validation_inputs` holdout inputs, taken as whole sessions in a seeded order, and for a
finalist it cannot decide a second at up to `second_look_inputs`, with alpha split between them, so
its cost does not grow with the trace window and a gain near the minimum is still judged fairly.

`revalidate` is phase 6 again for one change set (`POST changesets/{id}/validation`): it rebuilds the
scan's analysis (split, scales, diagnosis) from the same inputs and judges the candidate on the same
holdout through the same code as `run_scan`'s finalists, so it reproduces the scan's figures.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from spectral.engine.clustering import Diagnosis, Failure, cluster_failures, find_failures
from spectral.engine.errors import BudgetExhausted, ScanCancelled
from spectral.engine.proposers import ProposalContext, llm_rewrite, propose_offline
from spectral.engine.proposers.base import Proposal, answering_template, apply_edits
from spectral.engine.protocols import Generator, Judge, NullHooks, Runner, ScanHooks
from spectral.engine.scoring import (
    CompiledRubric,
    JudgeRun,
    ScoreTable,
    check_constraints,
    judge_traces,
    objective_scales_from,
    p95,
    score_traces,
)
from spectral.engine.search import (
    Checkpoint,
    Evaluation,
    ReplayBudget,
    ReplayEvaluator,
    SearchOutcome,
    SearchSettings,
    config_key,
    estimate_without_replay,
    experiment_pool,
    never_cancelled,
    search,
)
from spectral.engine.stats import (
    McNemarResult,
    VerdictDecision,
    VerdictEvidence,
    VerdictPolicy,
    binomial_two_sided_p,
    change_interval,
    decide_verdicts,
    mcnemar_exact,
    paired_bootstrap,
    worth_a_closer_look,
)
from spectral.engine.types import (
    AgentConfig,
    CostEntry,
    Dimension,
    EventLevel,
    ExperimentResult,
    Message,
    Objective,
    ObjectiveScales,
    ProposedChange,
    ReplayInput,
    ReplayUsage,
    Rubric,
    ScanConfig,
    ScanPhase,
    ScanReport,
    ScorerType,
    Strategy,
    Trace,
    ValidationResult,
    Verdict,
)

MAX_EXPERIMENT_INPUTS = 1000
MIN_ANALYSIS_TRACES_PER_CLUSTER_SIZE = 10
_EVIDENCE_TRACES = 5


@dataclass(frozen=True, slots=True)
class ScanInputs:
    """What a scan works on: the active config, the traces of the window, the rubric and objective,
    the scan's settings and, optionally, a sample set to experiment on instead of the analysis
    traces' inputs."""

    baseline: AgentConfig
    traces: Sequence[Trace]
    rubric: Rubric
    objective: Objective
    config: ScanConfig = field(default_factory=ScanConfig)
    samples: Sequence[ReplayInput] = ()
    # The prompts of the LLM calls that produced the traces' answers (each trace's last LLM call),
    # for a sample of the traces: they tell which template instructions belong in.
    answer_prompts: Sequence[Sequence[Message]] = ()


def _instruction_target(inputs: ScanInputs, template: str) -> str:
    if answering_template(inputs.baseline, inputs.answer_prompts) is not None:
        return (
            f"instructions go into the template '{template}': its text prompts the LLM call that "
            f"answers in most of {len(inputs.answer_prompts)} traces read"
        )
    return (
        f"instructions go into the template '{template}' (the system template, else the first by name): "
        f"no template's text was found in the prompts of the LLM calls that answer"
    )


class _Scan:
    """One scan's run: the hooks, the notes that go into the report and the cancellation check."""

    def __init__(self, hooks: ScanHooks) -> None:
        self.hooks = hooks
        self.notes: list[str] = []

    async def event(
        self,
        phase: ScanPhase,
        message: str,
        *,
        level: EventLevel = EventLevel.INFO,
        note: bool = False,
        **data: Any,
    ) -> None:
        if note:
            self.notes.append(message)
        await self.hooks.event(phase, level, message, data)

    async def checkpoint(self) -> None:
        if await self.hooks.cancelled():
            raise ScanCancelled("the scan was cancelled")


class _Progress:
    """A phase's progress as reported to the hooks: never lower than what was reported before."""

    def __init__(self, scan: _Scan, phase: ScanPhase) -> None:
        self._scan = scan
        self._phase = phase
        self._reported = 0.0

    async def report(self, fraction: float) -> None:
        value = min(1.0, max(self._reported, fraction))
        if value > self._reported or value == 0.0:
            self._reported = value
            await self._scan.hooks.progress(self._phase, value)


async def run_scan(
    inputs: ScanInputs,
    *,
    runner: Runner | None = None,
    judge: Judge | None = None,
    generator: Generator | None = None,
    hooks: ScanHooks | None = None,
) -> ScanReport:
    """Run the seven phases and return the report. Raises `ScanCancelled` when the hooks say so."""
    scan = _Scan(hooks or NullHooks())
    config = inputs.config

    # 1. collect
    await scan.checkpoint()
    traces, analysis, holdout = _collect(inputs)
    await scan.event(
        ScanPhase.COLLECT,
        f"{len(traces)} traces: {len(analysis)} for analysis, {len(holdout)} held out",
        n_analysis=len(analysis),
        n_holdout=len(holdout),
    )
    minimum = min_analysis_traces(config)
    if len(analysis) < minimum:
        await scan.event(
            ScanPhase.COLLECT,
            f"only {len(analysis)} analysis traces: at least {minimum} are needed to find failure "
            f"clusters of {config.min_cluster_size} traces and test a fix beyond them; widen the window",
            level=EventLevel.WARNING,
            note=True,
            n_analysis=len(analysis),
            minimum=minimum,
        )
    await scan.hooks.phase_output(
        ScanPhase.COLLECT, {"n_traces": len(traces), "n_analysis": len(analysis), "n_holdout": len(holdout)}
    )

    # 2. evaluate
    await scan.checkpoint()
    compiled = CompiledRubric.compile(inputs.rubric)
    judged = await judge_traces(analysis, inputs.rubric, judge)
    if judged.budget_exhausted:
        await scan.event(
            ScanPhase.EVALUATE,
            "budget exhausted while judging: the remaining llm_judge scores are left unscored",
            level=EventLevel.WARNING,
            note=True,
        )
    scales, table = _score_analysis(inputs, analysis, compiled, judged)
    unscored = table.unscored_dimensions()
    dimensions = {dimension.key: dimension for dimension in inputs.rubric.dimensions}
    for key in unscored:
        await scan.event(
            ScanPhase.EVALUATE,
            f"dimension {key} is unscored ({_unscored_reason(dimensions[key], judge)}); "
            "it does not count in quality",
            level=EventLevel.WARNING,
            note=True,
        )
    baseline_objective = _finite_mean(table.objective)
    await scan.hooks.progress(ScanPhase.EVALUATE, 1.0)
    await scan.hooks.phase_output(
        ScanPhase.EVALUATE,
        {
            "baseline_objective": baseline_objective,
            "n_failing": int(table.failed.sum()),
            "unscored": list(unscored),
        },
    )

    # 3. diagnose
    await scan.checkpoint()
    failures, diagnosis = _diagnose(inputs, analysis, table)
    await scan.event(
        ScanPhase.DIAGNOSE,
        f"{len(failures)} failing traces in {len(diagnosis.clusters)} clusters",
        n_failing=len(failures),
        n_clusters=len(diagnosis.clusters),
    )
    await scan.hooks.phase_output(ScanPhase.DIAGNOSE, {"clusters": [c.to_dict() for c in diagnosis.clusters]})

    # 4. propose
    await scan.checkpoint()
    targets = [c for c in diagnosis.clusters if c.size >= config.min_cluster_size][: config.max_clusters]
    context = ProposalContext(
        baseline=inputs.baseline,
        rubric=inputs.rubric,
        objective=inputs.objective,
        traces=analysis,
        table=table,
        clusters=targets,
        config=config,
        answer_prompts=inputs.answer_prompts,
    )
    if targets and len(inputs.baseline.templates) > 1:
        await scan.event(ScanPhase.PROPOSE, _instruction_target(inputs, context.instruction_template))
    proposals = propose_offline(context, config.strategies)
    proposals += await _rewrites(scan, context, generator, config.strategies)
    proposals = proposals[: config.max_candidates]
    if not targets:
        await scan.event(
            ScanPhase.PROPOSE,
            f"no failure cluster of at least {config.min_cluster_size} traces: nothing to propose",
            note=True,
        )
    await scan.event(ScanPhase.PROPOSE, f"{len(proposals)} candidates for {len(targets)} clusters")
    await scan.hooks.phase_output(
        ScanPhase.PROPOSE, {"candidates": [p.candidate.to_dict() for p in proposals]}
    )

    # 5. experiment and 6. validate
    usage = ReplayUsage()
    if runner is None:
        changes = await _estimate_only(scan, proposals, table, len(analysis))
        ledger: tuple[CostEntry, ...] = ()
    else:
        budget = replay_budget(inputs, table)
        evaluator = _replay_evaluator(inputs, runner, compiled, scales, scan.checkpoint, budget)
        stopped = False
        try:
            outcome = await _experiment(scan, inputs, analysis, holdout, diagnosis, proposals, evaluator)
            stopped = outcome.stopped_by_budget
            changes, skipped = await _validate(scan, inputs, holdout, diagnosis, outcome, evaluator)
            stopped = stopped or skipped
        except BudgetExhausted:
            stopped = True
            # Replays through the model gateway ran out of budget: what was replayed proves
            # nothing on its own, so the candidates are reported as trace-based estimates.
            await scan.event(
                ScanPhase.EXPERIMENT,
                "budget exhausted while replaying: candidates are reported as estimates, not validated",
                level=EventLevel.WARNING,
                note=True,
            )
            changes = await _estimate_only(scan, proposals, table, len(analysis))
        ledger = cost_ledger(evaluator.replayed_traces())
        usage = ReplayUsage(
            calls=evaluator.replays,
            cost_usd=round(evaluator.spent_usd, 9),
            budget_calls=budget.calls,
            budget_usd=budget.usd,
            stopped_by_budget=stopped,
        )

    # 7. report
    report = ScanReport(
        config=config,
        baseline=inputs.baseline,
        n_traces=len(traces),
        n_analysis=len(analysis),
        n_holdout=len(holdout),
        n_failing=len(failures),
        baseline_objective=baseline_objective,
        clusters=diagnosis.clusters,
        changes=tuple(changes),
        cost_ledger=ledger,
        notes=tuple(scan.notes),
        unscored_dimensions=unscored,
        replay=usage,
    )
    counts = {verdict: sum(1 for c in changes if c.verdict is verdict) for verdict in Verdict}
    await scan.event(
        ScanPhase.REPORT,
        f"{len(changes)} change sets: {counts[Verdict.RECOMMEND]} recommended, "
        f"{counts[Verdict.INCONCLUSIVE]} inconclusive, {counts[Verdict.REJECT]} rejected; "
        f"{usage.calls} replays",
        n_changesets=len(changes),
        n_recommended=counts[Verdict.RECOMMEND],
        replay_calls=usage.calls,
    )
    await scan.hooks.phase_output(ScanPhase.REPORT, report.to_dict())
    return report


async def revalidate(
    inputs: ScanInputs,
    candidate: AgentConfig,
    *,
    runner: Runner,
    targeted_cluster_ids: Sequence[str] = (),
    candidate_id: str | None = None,
    judge: Judge | None = None,
    checkpoint: Checkpoint | None = None,
) -> ValidationResult:
    """Phase 6 for one candidate, exactly as `run_scan` validates a finalist on these `inputs`.

    `targeted_cluster_ids` are the clusters the change set addresses (a regression elsewhere rejects
    it); `candidate_id` names the result (default: a hash of the config); `judge` is the scan's, so
    `llm_judge` failures are clustered as the scan clustered them. The verdict is that of a family of
    one test, so `p_value_adjusted == p_value` where the scan Holm-adjusted across its finalists.
    Raises `ScanCancelled` when `checkpoint` does (awaited between replay batches) and ValueError
    when the holdout is empty.
    """
    check = checkpoint or never_cancelled
    await check()
    _, analysis, holdout = _collect(inputs)
    if not holdout:
        raise ValueError("the holdout is empty: nothing to validate on")
    compiled = CompiledRubric.compile(inputs.rubric)
    scales, table = _score_analysis(
        inputs, analysis, compiled, await judge_traces(analysis, inputs.rubric, judge)
    )
    _, diagnosis = _diagnose(inputs, analysis, table)
    bench = await _Holdout.replay(
        inputs, holdout, diagnosis, _replay_evaluator(inputs, runner, compiled, scales, check, ReplayBudget())
    )
    targeted = tuple(targeted_cluster_ids)
    first = _Finalist(candidate, targeted, await bench.evidence(candidate, targeted))
    [(evidence, decision)], _ = await bench.judge([first], VerdictPolicy.from_scan_config(inputs.config))
    return _validation_result(candidate_id or config_key(candidate), evidence, decision)


# --------------------------------------------------------------------------------------------------
# Phases 1-3, shared by `run_scan` and `revalidate` so a revalidation sees the scan's analysis


def min_analysis_traces(config: ScanConfig) -> int:
    """Below this many analysis traces a scan can hardly find a cluster of `min_cluster_size`
    failures and still have the rest of traffic to see a fix's side effects on."""
    return MIN_ANALYSIS_TRACES_PER_CLUSTER_SIZE * config.min_cluster_size


def _unscored_reason(dimension: Dimension, judge: Judge | None) -> str:
    """Why no trace got a score on `dimension`, in words: a missing judge only when it is one."""
    if dimension.scorer.type is ScorerType.LLM_JUDGE:
        if judge is None:
            return "no judge result: no LLM provider is configured to judge it"
        return "the judge returned no result for any trace (declined, failed or out of budget)"
    return f"no trace carries what the {dimension.scorer.type.value} scorer needs"


def _collect(inputs: ScanInputs) -> tuple[list[Trace], list[Trace], list[Trace]]:
    """The traces in a stable order, then their (analysis, holdout) split."""
    traces = sorted(inputs.traces, key=lambda t: t.trace_id)
    analysis, holdout = split_holdout(
        traces, seed=inputs.config.seed, fraction=inputs.config.holdout_fraction
    )
    return traces, analysis, holdout


def _score_analysis(
    inputs: ScanInputs, analysis: Sequence[Trace], compiled: CompiledRubric, judged: JudgeRun
) -> tuple[ObjectiveScales, ScoreTable]:
    """The objective scales (fixed from the analysis traces, reused for every replay) and the
    analysis traces' scores."""
    scales = objective_scales_from(analysis)
    return scales, score_traces(analysis, compiled, inputs.objective, scales, judgments=judged.judgments)


def _diagnose(
    inputs: ScanInputs, analysis: Sequence[Trace], table: ScoreTable
) -> tuple[list[Failure], Diagnosis]:
    """The analysis failures and their clusters (which validation files holdout failures into)."""
    config = inputs.config
    failures = _failures(analysis, table, inputs.rubric)
    diagnosis = cluster_failures(
        failures, n_traces=len(analysis), seed=config.seed, min_cluster_size=config.min_cluster_size
    )
    return failures, diagnosis


def _failures(traces: Sequence[Trace], table: ScoreTable, rubric: Rubric) -> list[Failure]:
    """The failing traces, their objective loss measured against the median passing trace."""
    passing = table.objective[~table.failed & np.isfinite(table.objective)]
    reference = float(np.median(passing)) if passing.size else 1.0
    return find_failures(traces, table, rubric, reference_objective=reference)


def _replay_evaluator(
    inputs: ScanInputs,
    runner: Runner,
    compiled: CompiledRubric,
    scales: ObjectiveScales,
    checkpoint: Checkpoint,
    budget: ReplayBudget,
) -> ReplayEvaluator:
    return ReplayEvaluator(
        runner,
        compiled,
        inputs.objective,
        scales,
        checkpoint=checkpoint,
        batch_size=max(1, inputs.config.minibatch_size // 2),
        budget=budget,
    )


def replay_budget(inputs: ScanInputs, table: ScoreTable) -> ReplayBudget:
    """The scan's replay budget: the configured calls and USD, each sized from the trace count
    (`ReplayBudget.for_traces`) where the config leaves it at 0."""
    config = inputs.config
    sized = ReplayBudget.for_traces(len(inputs.traces), _finite_mean(table.cost_usd))
    return ReplayBudget(
        calls=config.replay_budget_calls or sized.calls,
        usd=config.replay_budget_usd or sized.usd,
        expected_call_usd=sized.expected_call_usd,
    )


def split_holdout(traces: Sequence[Trace], *, seed: int, fraction: float) -> tuple[list[Trace], list[Trace]]:
    """(analysis, holdout) by a keyed hash of (seed, session): stable across runs and machines."""
    analysis: list[Trace] = []
    holdout: list[Trace] = []
    for trace in traces:
        (holdout if _unit_hash(seed, trace.session_key) < fraction else analysis).append(trace)
    return analysis, holdout


def _unit_hash(seed: int, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _finite_mean(values: np.ndarray[Any, np.dtype[np.float64]]) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


async def _rewrites(
    scan: _Scan, context: ProposalContext, generator: Generator | None, strategies: Sequence[Strategy]
) -> list[Proposal]:
    if Strategy.LLM_REWRITE not in strategies:
        return []
    if generator is None:
        await scan.event(
            ScanPhase.PROPOSE,
            "llm_rewrite skipped: no LLM provider is configured",
            level=EventLevel.WARNING,
            note=True,
        )
        return []
    run = await llm_rewrite.propose(context, generator)
    if run.budget_exhausted:
        await scan.event(
            ScanPhase.PROPOSE,
            "budget exhausted: stopped writing LLM rewrites",
            level=EventLevel.WARNING,
            note=True,
            rewrites=len(run.proposals),
        )
    return list(run.proposals)


# --------------------------------------------------------------------------------------------------
# Without a runner


async def _estimate_only(
    scan: _Scan, proposals: Sequence[Proposal], table: ScoreTable, n_analysis: int
) -> list[ProposedChange]:
    await scan.event(
        ScanPhase.EXPERIMENT,
        "no replay target: candidates are trace-based estimates only, never validated",
        level=EventLevel.WARNING,
        note=True,
    )
    kept, results = estimate_without_replay(
        proposals,
        n_inputs=n_analysis,
        baseline_objective=_finite_mean(table.objective) or 0.0,
        baseline_cost_usd=_finite_mean(table.cost_usd) or 0.0,
        baseline_latency_ms=_finite_mean(table.latency_ms) or 0.0,
    )
    changes = []
    for proposal, result in zip(kept, results, strict=True):
        basis = proposal.estimate.basis if proposal.estimate else ""
        changes.append(
            ProposedChange(
                candidate=proposal.candidate,
                verdict=Verdict.INCONCLUSIVE,
                rationale=f"{proposal.candidate.rationale}\n\nEstimated from traces ({basis}); not validated.",
                evidence_trace_ids=(),
                experiment=result,
                expected_objective_gain=result.objective_difference,
                expected_cost_change_pct=proposal.estimate.cost_change_pct if proposal.estimate else None,
            )
        )
    await scan.hooks.phase_output(ScanPhase.EXPERIMENT, {"results": [r.to_dict() for r in results]})
    return changes


# --------------------------------------------------------------------------------------------------
# Experiment


async def _experiment(
    scan: _Scan,
    inputs: ScanInputs,
    analysis: Sequence[Trace],
    holdout: Sequence[Trace],
    diagnosis: Diagnosis,
    proposals: Sequence[Proposal],
    evaluator: ReplayEvaluator,
) -> SearchOutcome:
    config = inputs.config
    cluster_keys = {c.cluster_id: c.trace_ids for c in diagnosis.clusters}
    candidates_pool = list(inputs.samples) or [ReplayInput.from_trace(trace) for trace in analysis]
    pool = experiment_pool(candidates_pool, cluster_keys, limit=MAX_EXPERIMENT_INPUTS, seed=config.seed)
    # Validation needs the baseline and each finalist on the holdout's first look: kept back from the
    # search, up to half of the call budget (second looks take what is left).
    n_holdout = len(holdout_looks(holdout, config)[0].inputs)
    budget_calls = evaluator.budget.calls
    progress = _Progress(scan, ScanPhase.EXPERIMENT)

    async def on_stage(stage: str, fraction: float) -> None:
        await progress.report(fraction)

    outcome = await search(
        proposals,
        inputs.baseline,
        pool,
        cluster_keys,
        evaluator,
        SearchSettings(
            pilot_size=config.pilot_size,
            final_size=config.search_final_size,
            max_cost_increase_pct=config.max_cost_increase_pct,
            max_latency_increase_pct=config.max_latency_increase_pct,
            reserve_per_finalist=n_holdout,
            max_reserve_calls=None if budget_calls is None else budget_calls // 2,
        ),
        seed=config.seed,
        on_stage=on_stage,
    )
    if outcome.stopped_by_budget:
        await scan.event(
            ScanPhase.EXPERIMENT,
            f"replay budget reached after {evaluator.replays} replays: the search stopped early and the "
            "rest is kept for validation",
            level=EventLevel.WARNING,
            note=True,
        )
    await scan.event(
        ScanPhase.EXPERIMENT,
        f"{len(outcome.accepted)} of {len(outcome.proposals)} candidates strictly beat the baseline "
        f"({evaluator.replays} replays)",
        accepted=list(outcome.accepted),
        replay_calls=evaluator.replays,
    )
    for candidate_id, proposal in outcome.proposals.items():
        dropped = outcome.final_result(candidate_id)
        if candidate_id not in outcome.accepted and dropped is not None and not dropped.estimated:
            await scan.event(ScanPhase.EXPERIMENT, _dropped(proposal, dropped), note=True)
    await scan.hooks.phase_output(ScanPhase.EXPERIMENT, {"results": [r.to_dict() for r in outcome.results]})
    return outcome


def _dropped(proposal: Proposal, result: ExperimentResult) -> str:
    """Why a candidate the report has no change set for was left out: a cluster with a proposed
    fix and nothing about it in the report reads as a fix never tried."""
    candidate = proposal.candidate
    moved = [
        f"{key} {before:.0%} -> {after:.0%}"
        for key, (before, after) in sorted(result.dimension_pass_rates.items())
        if round(before, 2) != round(after, 2)
    ]
    cost = (
        f"; mean cost {result.candidate_cost_usd / result.baseline_cost_usd - 1:+.0%}"
        if result.baseline_cost_usd > 0
        else ""
    )
    return (
        f"{candidate.candidate_id} ({candidate.strategy.value}: {candidate.diff.describe()}; clusters "
        f"{', '.join(candidate.cluster_ids) or 'none'}) not kept: objective {result.objective_difference:+.3f} "
        f"against the current config on {result.n_inputs} replayed inputs ({result.stage}){cost}"
        + (f"; pass rates {', '.join(moved)}" if moved else "")
    )


def select_finalists(
    outcome: SearchOutcome, limit: int, kin: Callable[[Iterable[str]], set[str]] = set
) -> list[str]:
    """The accepted candidates worth a holdout run, independent fixes kept apart:

    1. for every kind of failure an accepted single candidate addresses (a cluster with its
       text-split siblings, `kin` = `Diagnosis.kin`: one line about a date format fixes the failures
       quoting every date, so four sibling clusters need one validation, not four), the best
       candidate for it on its own: the best within the guardrails (known from the search's
       replays), else the best of all, so a fix beyond the guardrails is still validated and reported
       with its gain;
    2. the best guardrail-compliant combination (the longest kept merge).

    A merge never takes the place of a kind's own fix: when a combination breaks a guardrail or
    fails, the cheap independent fixes are still judged alone.
    """
    merged = set(outcome.merged)
    singles = [cid for cid in outcome.accepted if cid not in merged]
    rank = {cid: index for index, cid in enumerate(singles)}
    compliant = {
        cid
        for cid in outcome.accepted
        if (result := outcome.final_result(cid)) is not None and result.within_guardrails
    }

    def kinds(cid: str) -> set[frozenset[str]]:
        # A change aimed at no cluster (a model move) stands for itself.
        clusters = outcome.proposals[cid].candidate.cluster_ids
        if not clusters:
            return {frozenset([f"candidate:{cid}"])}
        return {frozenset(kin([cluster])) for cluster in clusters}

    addressed = {cid: kinds(cid) for cid in singles}
    ordered = sorted(
        {kind for found in addressed.values() for kind in found},
        key=lambda kind: min(rank[cid] for cid in singles if kind in addressed[cid]),
    )
    chosen: list[str] = []
    for kind in ordered:
        addressing = [cid for cid in singles if kind in addressed[cid]]
        best = next((cid for cid in addressing if cid in compliant), addressing[0])
        if best not in chosen:
            chosen.append(best)
    chosen = chosen[: max(0, limit - 1)] if outcome.merged else chosen[:limit]
    combination = next((cid for cid in outcome.accepted if cid in merged and cid in compliant), None)
    if combination is not None and len(chosen) < limit:
        chosen.append(combination)
    return chosen


# --------------------------------------------------------------------------------------------------
# Validate


def holdout_inputs(holdout: Sequence[Trace], *, seed: int, limit: int) -> list[ReplayInput]:
    """Whole sessions of the holdout in a seeded order, until `limit` inputs."""
    sessions: dict[str, list[Trace]] = defaultdict(list)
    for trace in holdout:
        sessions[trace.session_key].append(trace)
    chosen: list[ReplayInput] = []
    for key in sorted(sessions, key=lambda s: _unit_hash(seed + 1, s)):
        if len(chosen) + len(sessions[key]) > limit and chosen:
            break
        chosen.extend(ReplayInput.from_trace(trace) for trace in sessions[key])
    return sorted(chosen, key=lambda item: item.key)


async def _validate(
    scan: _Scan,
    inputs: ScanInputs,
    holdout: Sequence[Trace],
    diagnosis: Diagnosis,
    outcome: SearchOutcome,
    evaluator: ReplayEvaluator,
) -> tuple[list[ProposedChange], bool]:
    """The finalists' change sets, every verdict kept, and whether the budget left some unvalidated."""
    config = inputs.config
    finalists = select_finalists(outcome, config.max_finalists, diagnosis.kin)
    if not finalists or not holdout:
        reason = "no candidate beat the baseline in replay" if not finalists else "the holdout is empty"
        await scan.event(ScanPhase.VALIDATE, f"nothing to validate: {reason}", note=True)
        return [], False
    bench = await _Holdout.replay(inputs, holdout, diagnosis, evaluator)
    first: list[_Finalist] = []
    for done, cid in enumerate(finalists):
        candidate = outcome.proposals[cid]
        config_ = apply_edits(inputs.baseline, candidate.edits)
        if not evaluator.can_afford(evaluator.missing(config_, bench.baseline.inputs)):
            await scan.event(
                ScanPhase.VALIDATE,
                f"replay budget reached: {len(finalists) - done} finalist(s) left unvalidated "
                f"({', '.join(finalists[done:])})",
                level=EventLevel.WARNING,
                note=True,
            )
            break
        targeted = candidate.candidate.cluster_ids
        first.append(_Finalist(config_, targeted, await bench.evidence(config_, targeted)))
        await scan.hooks.progress(ScanPhase.VALIDATE, (done + 1) / len(finalists))
    skipped = len(first) < len(finalists)
    finalists = finalists[: len(first)]
    judged, unaffordable = await bench.judge(first, VerdictPolicy.from_scan_config(config))
    if unaffordable:
        await scan.event(
            ScanPhase.VALIDATE,
            f"replay budget reached: {unaffordable} inconclusive finalist(s) kept their first look's "
            "verdict instead of a second look at more of the holdout",
            level=EventLevel.WARNING,
            note=True,
        )

    clusters = {c.cluster_id: c for c in diagnosis.clusters}
    changes: list[ProposedChange] = []
    for cid, (evidence, decision) in zip(finalists, judged, strict=True):
        proposal = outcome.proposals[cid]
        validation = _validation_result(cid, evidence, decision)
        evidence_ids = tuple(
            trace_id
            for cluster_id in proposal.candidate.cluster_ids
            if cluster_id in clusters
            for trace_id in clusters[cluster_id].exemplar_trace_ids[:_EVIDENCE_TRACES]
        )
        changes.append(
            ProposedChange(
                candidate=proposal.candidate,
                verdict=decision.verdict,
                rationale=f"{proposal.candidate.rationale}\n\nHoldout: {decision.reason}.",
                evidence_trace_ids=evidence_ids,
                experiment=outcome.final_result(cid),
                validation=validation,
                expected_objective_gain=validation.mean_difference,
                expected_cost_change_pct=validation.cost_change_pct
                if math.isfinite(validation.cost_change_pct)
                else None,
                predicted_cost_change_pct=_predicted_cost_change(outcome, cid),
            )
        )
        await scan.event(
            ScanPhase.VALIDATE,
            f"{cid}: {decision.verdict.value} ({decision.reason})",
            candidate_id=cid,
            verdict=decision.verdict.value,
        )
    await scan.hooks.phase_output(
        ScanPhase.VALIDATE, {"validations": [c.validation.to_dict() for c in changes if c.validation]}
    )
    return changes, skipped


def _predicted_cost_change(outcome: SearchOutcome, cid: str) -> float | None:
    """The trace-based cost prediction of a finalist: its proposer's estimate, or for a merge the
    sum of its parts' estimates (None when a part has none)."""
    proposal = outcome.proposals[cid]
    if proposal.estimate is not None:
        return proposal.estimate.cost_change_pct
    if cid not in outcome.merged:
        return None
    total = 0.0
    for edit in proposal.edits:
        part = next((p for p in outcome.proposals.values() if p.edits == (edit,)), None)
        if part is None or part.estimate is None:
            return None
        total += part.estimate.cost_change_pct
    return total


FIRST_LOOK_ALPHA_SHARE = 0.5
"""The share of alpha the first of two looks at the holdout spends; the second spends the rest."""


@dataclass(frozen=True, slots=True)
class _Look:
    """One look at the holdout: the inputs replayed and the alpha its intervals and tests spend."""

    inputs: tuple[ReplayInput, ...]
    alpha: float


def holdout_looks(holdout: Sequence[Trace], config: ScanConfig) -> tuple[_Look, ...]:
    """The looks validation may take at the holdout, fixed by the holdout's size before any replay.

    One look at up to `max_validation_inputs` inputs spends all of alpha. When the holdout holds at
    least half as many inputs again (and `second_look_inputs` allows more), there are two: the first
    at `max_validation_inputs` spends `FIRST_LOOK_ALPHA_SHARE` of alpha, and a finalist it leaves
    `inconclusive` gets a second look at up to `second_look_inputs` (the first look's inputs and more
    whole sessions) that spends the rest. Whatever either look decides, the chance of recommending a
    change that does not clear the bar stays at most alpha (Bonferroni over the looks, a conservative
    group-sequential design): the few hundred replays that settle a clear gain stay the price of a
    clear gain, and a gain near the workspace's minimum is judged on several times the evidence.
    """
    first = holdout_inputs(holdout, seed=config.seed, limit=config.max_validation_inputs)
    second = holdout_inputs(holdout, seed=config.seed, limit=config.second_look_inputs)
    if 2 * len(second) < 3 * len(first):
        return (_Look(tuple(first), config.alpha),)
    share = config.alpha * FIRST_LOOK_ALPHA_SHARE
    return _Look(tuple(first), share), _Look(tuple(second), config.alpha - share)


@dataclass(frozen=True, slots=True)
class _Finalist:
    """A finalist's config, the clusters it targets and its evidence at the first look."""

    config: AgentConfig
    targeted: tuple[str, ...]
    evidence: VerdictEvidence


class _Holdout:
    """Phase 6's yardstick: the baseline replayed on the holdout's looks and the analysis clusters
    its failures file into. Every candidate, a scan's finalist or a revalidated change set, is judged
    against it by `evidence` and `judge`, so both give the same figures and verdicts."""

    def __init__(
        self, inputs: ScanInputs, diagnosis: Diagnosis, evaluator: ReplayEvaluator, looks: tuple[_Look, ...]
    ) -> None:
        self.inputs = inputs
        self.diagnosis = diagnosis
        self.evaluator = evaluator
        self.looks = looks
        self._baselines: dict[int, tuple[Evaluation, list[str | None]]] = {}

    @classmethod
    async def replay(
        cls, inputs: ScanInputs, holdout: Sequence[Trace], diagnosis: Diagnosis, evaluator: ReplayEvaluator
    ) -> _Holdout:
        bench = cls(inputs, diagnosis, evaluator, holdout_looks(holdout, inputs.config))
        await bench._baseline(0)
        return bench

    @property
    def baseline(self) -> Evaluation:
        """The baseline on the first look's inputs."""
        return self._baselines[0][0]

    async def _baseline(self, look: int) -> tuple[Evaluation, list[str | None]]:
        if look not in self._baselines:
            evaluation = await self.evaluator.evaluate(self.inputs.baseline, self.looks[look].inputs)
            membership = _cluster_membership(self.diagnosis, evaluation, self.inputs.rubric)
            self._baselines[look] = (evaluation, membership)
        return self._baselines[look]

    async def evidence(
        self, candidate: AgentConfig, targeted_cluster_ids: Sequence[str], *, look: int = 0
    ) -> VerdictEvidence:
        base, base_clusters = await self._baseline(look)
        evaluation = await self.evaluator.evaluate(candidate, base.inputs)
        return _evidence(
            base,
            evaluation,
            base_clusters,
            _cluster_membership(self.diagnosis, evaluation, self.inputs.rubric),
            targeted=set(targeted_cluster_ids),
            kin=self.diagnosis.kin(targeted_cluster_ids),
            inputs=self.inputs,
            alpha=self.looks[look].alpha,
        )

    async def judge(
        self, finalists: Sequence[_Finalist], policy: VerdictPolicy
    ) -> tuple[list[tuple[VerdictEvidence, VerdictDecision]], int]:
        """Each finalist's evidence and verdict, and how many second looks the replay budget refused.

        The first look decides every finalist, Holm-adjusted across them at its alpha; with a second
        look, each one left `inconclusive` whose estimates meet the bars (`worth_a_closer_look`) is
        judged again on the second look's inputs at the rest of
        alpha, Holm-adjusted across the whole family (a finalist decided at the first look counts
        with p = 1), and that verdict is final.
        """
        first = decide_verdicts([f.evidence for f in finalists], replace(policy, alpha=self.looks[0].alpha))
        judged = [(f.evidence, decision) for f, decision in zip(finalists, first, strict=True)]
        if len(self.looks) < 2:
            return judged, 0
        undecided = [
            i
            for i, (evidence, decision) in enumerate(judged)
            if decision.verdict is Verdict.INCONCLUSIVE and worth_a_closer_look(evidence, policy)
        ]
        wider: dict[int, VerdictEvidence] = {}
        for i in undecided:
            needed = self.evaluator.missing(finalists[i].config, self.looks[1].inputs)
            if 1 not in self._baselines:
                needed += self.evaluator.missing(self.inputs.baseline, self.looks[1].inputs)
            if not self.evaluator.can_afford(needed):
                break
            wider[i] = await self.evidence(finalists[i].config, finalists[i].targeted, look=1)
        second = decide_verdicts(
            list(wider.values()),
            replace(policy, alpha=self.looks[1].alpha),
            family_size=len(finalists),
        )
        first_inputs = len(self.looks[0].inputs)
        for i, decision in zip(wider, second, strict=True):
            reason = (
                f"{decision.reason} (at a second look: {wider[i].bootstrap.n_units} holdout inputs, after "
                f"{first_inputs} could not decide)"
            )
            judged[i] = (wider[i], replace(decision, reason=reason))
        return judged, len(undecided) - len(wider)


def _validation_result(
    candidate_id: str, evidence: VerdictEvidence, decision: VerdictDecision
) -> ValidationResult:
    boot = evidence.bootstrap
    return ValidationResult(
        candidate_id=candidate_id,
        n_inputs=boot.n_units,
        n_sessions=boot.n_sessions,
        mean_difference=boot.mean,
        ci_low=boot.low,
        ci_high=boot.high,
        mde=decision.mde,
        baseline_cost_usd=evidence.baseline_cost_usd,
        candidate_cost_usd=evidence.candidate_cost_usd,
        baseline_latency_p95_ms=evidence.baseline_latency_p95_ms,
        candidate_latency_p95_ms=evidence.candidate_latency_p95_ms,
        verdict=decision.verdict,
        verdict_reason=decision.reason,
        cost_interval=evidence.cost_interval,
        latency_interval=evidence.latency_interval,
        p_value=decision.p_value,
        p_value_adjusted=decision.p_value_adjusted,
        mcnemar={
            f"{key}.{name}": float(value)
            for key, result in evidence.mcnemar
            for name, value in result.to_dict().items()
        },
        constraint_checks=evidence.constraint_checks,
        regressed_cluster_ids=evidence.regressed_cluster_ids,
        ci_level=boot.level,
    )


def _cluster_membership(diagnosis: Diagnosis, evaluation: Evaluation, rubric: Rubric) -> list[str | None]:
    """Per replayed input, the analysis cluster its failure files into (None when it passed or its
    failure matches no known signature)."""
    failures = _failures(evaluation.traces, evaluation.table, rubric)
    assigned = dict(zip((f.trace_id for f in failures), diagnosis.assign(failures), strict=True))
    return [assigned.get(trace.trace_id) for trace in evaluation.traces]


def _evidence(
    base: Evaluation,
    candidate: Evaluation,
    base_clusters: Sequence[str | None],
    candidate_clusters: Sequence[str | None],
    *,
    targeted: set[str],
    kin: set[str],
    inputs: ScanInputs,
    alpha: float,
) -> VerdictEvidence:
    """The verdict's evidence; `targeted` are the clusters the change addresses and `kin` those with
    their kinds of failure (their text-split siblings), whose holdout inputs the change must fix.
    Intervals are at level 1 - `alpha`, the alpha of the look at the holdout they belong to."""
    config = inputs.config
    sessions = [item.session_id or item.key for item in base.inputs]
    differences = candidate.table.objective - base.table.objective
    level = 1.0 - alpha
    bootstrap = paired_bootstrap(
        differences, sessions, seed=config.seed, resamples=config.bootstrap_resamples, level=level
    )
    quality_differences = candidate.table.quality - base.table.quality
    quality = (
        paired_bootstrap(
            quality_differences, sessions, seed=config.seed, resamples=config.bootstrap_resamples, level=level
        )
        if np.isfinite(quality_differences).any()
        else None
    )
    mcnemar: list[tuple[str, McNemarResult]] = []
    base_failed, cand_failed = base.table.failed_cells, candidate.table.failed_cells
    for column, key in enumerate(base.table.dimension_keys):
        scored = base.table.scored[:, column] & candidate.table.scored[:, column]
        if scored.any():
            mcnemar.append((key, mcnemar_exact(~base_failed[scored, column], ~cand_failed[scored, column])))
    table = candidate.table
    checks = check_constraints(
        inputs.objective,
        cost_usd=table.cost_usd,
        latency_ms=table.latency_ms,
        dimension_scores={key: table.column(key) for key in table.dimension_keys},
    )
    return VerdictEvidence(
        bootstrap=bootstrap,
        baseline_cost_usd=_finite_mean(base.table.cost_usd) or 0.0,
        candidate_cost_usd=_finite_mean(table.cost_usd) or 0.0,
        baseline_latency_p95_ms=p95(base.table.latency_ms),
        candidate_latency_p95_ms=p95(table.latency_ms),
        cost_interval=change_interval(
            base.table.cost_usd,
            table.cost_usd,
            sessions,
            quantile=None,
            seed=config.seed,
            resamples=config.bootstrap_resamples,
            level=level,
        ),
        latency_interval=change_interval(
            base.table.latency_ms,
            table.latency_ms,
            sessions,
            quantile=0.95,
            seed=config.seed,
            resamples=config.bootstrap_resamples,
            level=level,
        ),
        constraint_checks=checks,
        mcnemar=tuple(mcnemar),
        regressed_cluster_ids=_regressed_clusters(
            base_clusters, candidate_clusters, base.table.failed, table.failed, targeted, alpha
        ),
        targeted=_targeted_fix(base_clusters, candidate_clusters, kin),
        quality=quality,
        baseline_latency_mean_ms=_finite_mean(base.table.latency_ms),
        candidate_latency_mean_ms=_finite_mean(table.latency_ms),
    )


def _regressed_clusters(
    base: Sequence[str | None],
    candidate: Sequence[str | None],
    base_failed: np.ndarray[Any, np.dtype[np.bool_]],
    candidate_failed: np.ndarray[Any, np.dtype[np.bool_]],
    targeted: set[str],
    alpha: float,
) -> tuple[str, ...]:
    """Untargeted clusters that the candidate makes grow: significantly more holdout inputs that
    passed under the baseline fail into the cluster than inputs of the cluster now pass (exact
    McNemar). Inputs that failed either way and only changed primary cause (a fixed format failure
    that still has a vague answer) are neither: fixing one failure must not read as causing another."""
    regressed = []
    for cluster in sorted({c for c in candidate if c is not None} - targeted):
        newly_in = np.array([c == cluster for c in candidate]) & ~base_failed
        fixed = np.array([c == cluster for c in base]) & ~candidate_failed
        result = binomial_two_sided_p(int(fixed.sum()), int(fixed.sum() + newly_in.sum()))
        if newly_in.sum() > fixed.sum() and result < alpha:
            regressed.append(cluster)
    return tuple(regressed)


def _targeted_fix(
    base: Sequence[str | None], candidate: Sequence[str | None], targeted: set[str]
) -> McNemarResult | None:
    """Holdout inputs that left the `targeted` clusters (the baseline's failure files into one, the
    candidate's reply into none) against those that entered them; None without targeted clusters.
    Validation files each holdout failure into its nearest analysis cluster, so `targeted` should
    hold the targeted clusters' text-split siblings too (`Diagnosis.kin`): a fix of an argument
    format fixes the failures quoting any value, whichever sibling they are filed into."""
    if not targeted:
        return None
    before = np.array([c in targeted for c in base], dtype=np.bool_)
    after = np.array([c in targeted for c in candidate], dtype=np.bool_)
    return mcnemar_exact(~before, ~after)


def cost_ledger(replays: Sequence[Trace]) -> tuple[CostEntry, ...]:
    """What the scan's replays cost, per model (as the replay target reported it)."""
    entries: dict[str, CostEntry] = {}
    for trace in replays:
        model = trace.model or "unknown"
        entry = entries.get(model, CostEntry(model=model))
        entries[model] = replace(
            entry,
            calls=entry.calls + 1,
            input_tokens=entry.input_tokens + (trace.input_tokens or 0),
            output_tokens=entry.output_tokens + (trace.output_tokens or 0),
            cost_usd=entry.cost_usd + (trace.cost_usd or 0.0),
        )
    return tuple(entries[model] for model in sorted(entries))
