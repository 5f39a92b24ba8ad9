"""Experiment: estimate candidates against the baseline by replay, spending runs where they pay.

The search is successive halving with GEPA-style strict-improvement acceptance:

1. **minibatch** — every candidate and its parent (the baseline) replay the same small batch: half
   from the inputs of the clusters the candidate targets, so its effect can show at all, half from
   the rest of the pool, so a regression elsewhere can too. Only candidates whose mean objective
   strictly beats the parent's go on; if more survive than the full stage can afford, the best per
   targeted cluster are kept first, then the best by gain.
2. **full** — survivors replay the whole experiment pool (the analysis inputs, capped by a seeded
   sample that keeps every cluster represented) and are accepted when they strictly beat the parent.
3. **merge** — accepted candidates addressing different clusters are combined greedily, best first;
   a merge is kept only when it strictly beats the candidate it extends on the full pool.

Among the accepted, the per-input Pareto front over (objective, cost, latency) marks candidates that
are best on some input for some trade-off (GEPA keeps exactly those as parents).

Without a runner nothing can be replayed: `estimate_without_replay` turns the proposers'
trace-based estimates into experiment results marked `estimated`, which validation never promotes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from spectral.engine.proposers.base import Proposal, apply_edits, candidate_id
from spectral.engine.protocols import Runner
from spectral.engine.scoring import CompiledRubric, ScoreTable, score_traces
from spectral.engine.types import (
    AgentConfig,
    ConfigDiff,
    ExperimentResult,
    Objective,
    ObjectiveScales,
    ReplayInput,
    Trace,
)

Checkpoint = Callable[[], Awaitable[None]]
"""Awaited between replay batches; raises `ScanCancelled` when the scan was cancelled."""


async def never_cancelled() -> None:
    """The checkpoint of a caller that does not cancel."""


STAGE_MINIBATCH = "minibatch"
STAGE_FULL = "full"
STAGE_ESTIMATE = "estimate"
STAGE_SAMPLES = "samples"
"""A candidate against the baseline on a sample set, outside a scan (`experiments.run_experiment`)."""

# A candidate must beat its parent by more than float noise to count as an improvement.
_STRICT_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class SearchSettings:
    minibatch_size: int = 64
    max_full_candidates: int = 8
    max_experiment_inputs: int = 1000
    replay_batch_size: int = 32


# --------------------------------------------------------------------------------------------------
# Replay and scoring


@dataclass(frozen=True, slots=True, eq=False)
class Evaluation:
    """A config's replays of some inputs, as traces and scored (rows follow `inputs`)."""

    inputs: tuple[ReplayInput, ...]
    traces: tuple[Trace, ...]
    table: ScoreTable

    def objective(self) -> npt.NDArray[np.float64]:
        return self.table.objective

    @classmethod
    def score(
        cls,
        inputs: Sequence[ReplayInput],
        traces: Sequence[Trace],
        rubric: CompiledRubric,
        objective: Objective,
        scales: ObjectiveScales,
    ) -> Evaluation:
        """Replays scored like recorded traces (no judge: `llm_judge` dimensions stay unscored)."""
        return cls(
            inputs=tuple(inputs), traces=tuple(traces), table=score_traces(traces, rubric, objective, scales)
        )


def config_key(config: AgentConfig) -> str:
    return hashlib.blake2b(json.dumps(config.to_dict(), sort_keys=True).encode(), digest_size=12).hexdigest()


async def replay(
    runner: Runner,
    config: AgentConfig,
    inputs: Sequence[ReplayInput],
    *,
    checkpoint: Checkpoint,
    batch_size: int,
) -> list[Trace]:
    """Replays of `config` on `inputs` as traces, in input order, through the runner in batches;
    `checkpoint` is awaited before each batch so a cancel takes effect between batches."""
    traces: list[Trace] = []
    for start in range(0, len(inputs), batch_size):
        await checkpoint()
        batch = inputs[start : start + batch_size]
        results = await runner.run(config, batch)
        if len(results) != len(batch):
            raise ValueError(f"runner returned {len(results)} results for {len(batch)} inputs")
        traces.extend(result.to_trace(item, config) for item, result in zip(batch, results, strict=True))
    return traces


class ReplayEvaluator:
    """Replays configs on inputs through the runner, in batches, and scores the replays with the
    scan's rubric and objective scales. Replays are cached per (config, input): the baseline's
    minibatch replays are reused by every candidate, and the full stage reuses the minibatch."""

    def __init__(
        self,
        runner: Runner,
        rubric: CompiledRubric,
        objective: Objective,
        scales: ObjectiveScales,
        *,
        checkpoint: Checkpoint,
        batch_size: int,
    ) -> None:
        self._runner = runner
        self._rubric = rubric
        self._objective = objective
        self._scales = scales
        self._checkpoint = checkpoint
        self._batch_size = batch_size
        self._cache: dict[tuple[str, str], Trace] = {}
        self.replays = 0

    async def evaluate(self, config: AgentConfig, inputs: Sequence[ReplayInput]) -> Evaluation:
        key = config_key(config)
        missing = [item for item in inputs if (key, item.key) not in self._cache]
        replayed = await replay(
            self._runner, config, missing, checkpoint=self._checkpoint, batch_size=self._batch_size
        )
        for item, trace in zip(missing, replayed, strict=True):
            self._cache[(key, item.key)] = trace
        self.replays += len(missing)
        traces = [self._cache[(key, item.key)] for item in inputs]
        return Evaluation.score(inputs, traces, self._rubric, self._objective, self._scales)

    def replayed_traces(self) -> list[Trace]:
        """Every replay made so far, in a stable order (for the cost ledger)."""
        return [self._cache[key] for key in sorted(self._cache)]


def compare(candidate_id_: str, stage: str, baseline: Evaluation, candidate: Evaluation) -> ExperimentResult:
    """Paired summary of a candidate against its parent on the same inputs (NaN rows dropped)."""
    base = baseline.table
    cand = candidate.table
    rows = np.isfinite(base.objective) & np.isfinite(cand.objective)
    pass_rates: dict[str, tuple[float, float]] = {}
    base_failed = base.failed_cells
    cand_failed = cand.failed_cells
    for column, key in enumerate(base.dimension_keys):
        scored = base.scored[:, column] & cand.scored[:, column]
        if scored.any():
            pass_rates[key] = (
                float(1.0 - base_failed[scored, column].mean()),
                float(1.0 - cand_failed[scored, column].mean()),
            )
    return ExperimentResult(
        candidate_id=candidate_id_,
        stage=stage,
        n_inputs=int(rows.sum()),
        baseline_objective=_mean(base.objective[rows]),
        candidate_objective=_mean(cand.objective[rows]),
        baseline_cost_usd=_mean(base.cost_usd[rows]),
        candidate_cost_usd=_mean(cand.cost_usd[rows]),
        baseline_latency_ms=_mean(base.latency_ms[rows]),
        candidate_latency_ms=_mean(cand.latency_ms[rows]),
        dimension_pass_rates=pass_rates,
    )


def _mean(values: npt.NDArray[np.float64]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0


# --------------------------------------------------------------------------------------------------
# The search


@dataclass(frozen=True, slots=True, eq=False)
class SearchOutcome:
    """Every stage of every candidate, the proposals searched (merges included) and the accepted
    ones best first (`accepted[0]` extends the merge chain the furthest when a merge was kept)."""

    results: tuple[ExperimentResult, ...]
    proposals: Mapping[str, Proposal]
    accepted: tuple[str, ...]
    merged: tuple[str, ...]

    def final_result(self, candidate: str) -> ExperimentResult | None:
        """The candidate's last-stage result."""
        found = [result for result in self.results if result.candidate_id == candidate]
        return found[-1] if found else None


def experiment_pool(
    inputs: Sequence[ReplayInput], cluster_keys: Mapping[str, Sequence[str]], *, limit: int, seed: int
) -> list[ReplayInput]:
    """The inputs the full stage replays: all of them up to `limit`, else a seeded sample that takes
    the same number of inputs from every cluster first (so small clusters are not sampled away)."""
    if len(inputs) <= limit:
        return list(inputs)
    by_key = {item.key: item for item in inputs}
    rng = np.random.default_rng(seed)
    per_cluster = max(1, limit // (2 * max(1, len(cluster_keys))))
    chosen: dict[str, ReplayInput] = {}
    for cluster in sorted(cluster_keys):
        keys = sorted(key for key in cluster_keys[cluster] if key in by_key)
        for index in rng.permutation(len(keys))[:per_cluster]:
            chosen.setdefault(keys[int(index)], by_key[keys[int(index)]])
    rest = sorted(key for key in by_key if key not in chosen)
    for index in rng.permutation(len(rest))[: limit - len(chosen)]:
        chosen[rest[int(index)]] = by_key[rest[int(index)]]
    return sorted(chosen.values(), key=lambda item: item.key)


def _minibatch(
    pool: Sequence[ReplayInput],
    targeted: set[str],
    *,
    size: int,
    seed: int,
    salt: str,
) -> list[ReplayInput]:
    rng = np.random.default_rng([seed, int(hashlib.blake2b(salt.encode(), digest_size=4).hexdigest(), 16)])
    inside = [item for item in pool if item.key in targeted]
    outside = [item for item in pool if item.key not in targeted]
    take_inside = min(len(inside), size // 2)
    picked = [inside[int(i)] for i in rng.permutation(len(inside))[:take_inside]]
    picked += [outside[int(i)] for i in rng.permutation(len(outside))[: size - take_inside]]
    return sorted(picked, key=lambda item: item.key)


async def search(
    proposals: Sequence[Proposal],
    baseline: AgentConfig,
    pool: Sequence[ReplayInput],
    cluster_keys: Mapping[str, Sequence[str]],
    evaluator: ReplayEvaluator,
    settings: SearchSettings,
    *,
    seed: int,
    on_stage: Callable[[str, float], Awaitable[None]] | None = None,
) -> SearchOutcome:
    """Run the minibatch, full and merge stages (module docstring). `cluster_keys` maps cluster ids
    to the input keys of their traces."""
    results: list[ExperimentResult] = []
    by_id = {proposal.candidate.candidate_id: proposal for proposal in proposals}

    async def stage_progress(stage: str, done: int, total: int) -> None:
        if on_stage is not None:
            await on_stage(stage, done / max(1, total))

    survivors: list[tuple[float, Proposal]] = []
    for done, proposal in enumerate(proposals):
        targeted = {
            key for cluster in proposal.candidate.cluster_ids for key in cluster_keys.get(cluster, ())
        }
        batch = _minibatch(
            pool, targeted, size=settings.minibatch_size, seed=seed, salt=proposal.candidate.candidate_id
        )
        parent = await evaluator.evaluate(baseline, batch)
        child = await evaluator.evaluate(apply_edits(baseline, proposal.edits), batch)
        result = compare(proposal.candidate.candidate_id, STAGE_MINIBATCH, parent, child)
        improved = result.objective_difference > _STRICT_EPSILON
        results.append(dataclasses.replace(result, accepted=improved))
        if improved:
            survivors.append((result.objective_difference, proposal))
        await stage_progress(STAGE_MINIBATCH, done + 1, len(proposals))

    full_base = await evaluator.evaluate(baseline, pool)
    full_evaluations: dict[str, Evaluation] = {}
    accepted: list[tuple[float, str]] = []
    promoted = _halve(survivors, settings.max_full_candidates)
    for done, proposal in enumerate(promoted):
        cid = proposal.candidate.candidate_id
        child = await evaluator.evaluate(apply_edits(baseline, proposal.edits), pool)
        result = compare(cid, STAGE_FULL, full_base, child)
        improved = result.objective_difference > _STRICT_EPSILON
        results.append(dataclasses.replace(result, accepted=improved))
        if improved:
            accepted.append((result.objective_difference, cid))
            full_evaluations[cid] = child
        await stage_progress(STAGE_FULL, done + 1, len(promoted))

    accepted.sort(key=lambda item: (-item[0], item[1]))
    merged = await _merge(
        [by_id[cid] for _, cid in accepted], baseline, pool, full_base, full_evaluations, evaluator, results
    )
    by_id.update({proposal.candidate.candidate_id: proposal for proposal in merged})
    order = [p.candidate.candidate_id for p in reversed(merged)] + [cid for _, cid in accepted]

    front = _pareto_members(full_base, {cid: full_evaluations[cid] for cid in order})
    results = [
        dataclasses.replace(result, on_pareto_front=result.candidate_id in front)
        if result.stage == STAGE_FULL and result.accepted
        else result
        for result in results
    ]
    return SearchOutcome(
        results=tuple(results),
        proposals=by_id,
        accepted=tuple(order),
        merged=tuple(p.candidate.candidate_id for p in merged),
    )


def _halve(survivors: Sequence[tuple[float, Proposal]], limit: int) -> list[Proposal]:
    """The survivors the full stage can afford: the best of each targeted cluster set first."""
    ranked = sorted(survivors, key=lambda item: (-item[0], item[1].candidate.candidate_id))
    chosen: list[Proposal] = []
    covered: set[tuple[str, ...]] = set()
    for _, proposal in ranked:
        if proposal.candidate.cluster_ids not in covered and len(chosen) < limit:
            chosen.append(proposal)
            covered.add(proposal.candidate.cluster_ids)
    for _, proposal in ranked:
        if len(chosen) >= limit:
            break
        if proposal not in chosen:
            chosen.append(proposal)
    return chosen


async def _merge(
    accepted: Sequence[Proposal],
    baseline: AgentConfig,
    pool: Sequence[ReplayInput],
    full_base: Evaluation,
    full_evaluations: dict[str, Evaluation],
    evaluator: ReplayEvaluator,
    results: list[ExperimentResult],
) -> list[Proposal]:
    """Greedy merge chain: extend the best candidate with the next best that addresses other
    clusters, keeping each extension only if it strictly beats what it extends."""
    if len(accepted) < 2:
        return []
    chain: list[Proposal] = []
    current = accepted[0]
    for addition in accepted[1:]:
        if set(addition.candidate.cluster_ids) <= set(current.candidate.cluster_ids):
            continue
        edits = current.edits + addition.edits
        diff = ConfigDiff.between(baseline, apply_edits(baseline, edits))
        if diff == ConfigDiff.between(baseline, apply_edits(baseline, current.edits)):
            continue
        merged_candidate = dataclasses.replace(
            current.candidate,
            candidate_id=candidate_id(current.candidate.strategy, diff),
            diff=diff,
            rationale=f"{current.candidate.rationale}\n\nAlso: {addition.candidate.rationale}",
            cluster_ids=tuple(dict.fromkeys(current.candidate.cluster_ids + addition.candidate.cluster_ids)),
            parent_id=current.candidate.candidate_id,
        )
        merged = Proposal(candidate=merged_candidate, edits=edits)
        evaluation = await evaluator.evaluate(apply_edits(baseline, edits), pool)
        against_parent = compare(
            merged_candidate.candidate_id,
            STAGE_FULL,
            full_evaluations[current.candidate.candidate_id],
            evaluation,
        )
        improved = against_parent.objective_difference > _STRICT_EPSILON
        # Reported against the baseline like every other full-stage result; accepted means it beat
        # the candidate it extends.
        result = compare(merged_candidate.candidate_id, STAGE_FULL, full_base, evaluation)
        results.append(dataclasses.replace(result, accepted=improved))
        if improved:
            full_evaluations[merged_candidate.candidate_id] = evaluation
            chain.append(merged)
            current = merged
    return chain


def _pareto_members(baseline: Evaluation, evaluations: Mapping[str, Evaluation]) -> set[str]:
    """Candidates on the per-input Pareto front over (objective up, cost down, latency down) of at
    least one input, the baseline competing too."""
    if not evaluations:
        return set()
    names = ["", *evaluations]
    tables = [baseline.table, *(evaluation.table for evaluation in evaluations.values())]
    objective = np.stack([np.nan_to_num(t.objective, nan=-np.inf) for t in tables])
    cost = np.stack([np.nan_to_num(t.cost_usd, nan=0.0) for t in tables])
    latency = np.stack([np.nan_to_num(t.latency_ms, nan=0.0) for t in tables])
    members: set[str] = set()
    for i, name in enumerate(names[1:], start=1):
        dominated = np.zeros(objective.shape[1], dtype=bool)
        for j in range(len(names)):
            if j == i:
                continue
            no_worse = (objective[j] >= objective[i]) & (cost[j] <= cost[i]) & (latency[j] <= latency[i])
            better = (objective[j] > objective[i]) | (cost[j] < cost[i]) | (latency[j] < latency[i])
            dominated |= no_worse & better
        if not dominated.all():
            members.add(name)
    return members


# --------------------------------------------------------------------------------------------------
# Without a runner


def estimate_without_replay(
    proposals: Sequence[Proposal],
    *,
    n_inputs: int,
    baseline_objective: float,
    baseline_cost_usd: float,
    baseline_latency_ms: float,
) -> tuple[list[Proposal], list[ExperimentResult]]:
    """Proposals with a trace-based estimate become `estimated` candidates with an `estimate`-stage
    result; the others cannot be judged without replay and are dropped."""
    kept: list[Proposal] = []
    results: list[ExperimentResult] = []
    for proposal in proposals:
        estimate = proposal.estimate
        if estimate is None:
            continue
        candidate = dataclasses.replace(proposal.candidate, estimated=True)
        kept.append(dataclasses.replace(proposal, candidate=candidate))
        results.append(
            ExperimentResult(
                candidate_id=candidate.candidate_id,
                stage=STAGE_ESTIMATE,
                n_inputs=n_inputs,
                baseline_objective=baseline_objective,
                candidate_objective=baseline_objective + estimate.objective_gain,
                baseline_cost_usd=baseline_cost_usd,
                candidate_cost_usd=baseline_cost_usd * (1.0 + estimate.cost_change_pct / 100.0),
                # Estimates say nothing about latency: reported unchanged.
                baseline_latency_ms=baseline_latency_ms,
                candidate_latency_ms=baseline_latency_ms,
                accepted=estimate.objective_gain > _STRICT_EPSILON or estimate.cost_change_pct < 0,
                estimated=True,
            )
        )
    return kept, results
