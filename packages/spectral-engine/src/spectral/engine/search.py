"""Experiment: estimate candidates against the baseline by replay, spending runs where they pay.

The search is successive halving on rungs of growing size with GEPA-style strict-improvement
acceptance, and it is frugal with replays:

1. **rungs** — every candidate starts on a small pilot batch (`pilot_size` inputs); each rung
   multiplies the batch by `growth` up to `final_size`. A rung's batch for a candidate is half the
   inputs of the clusters it targets (so its effect can show at all) and half the rest of the pool (so
   a regression elsewhere can too), both taken as *prefixes of fixed seeded orders*: candidates that
   target the same clusters replay the same inputs, the baseline's replays of them are made once and
   reused by every candidate, and a rung reuses the replays of the rungs before it. An arm stops
   (early) as soon as it does not strictly beat the baseline on its batch; of those that do, only the
   best `1 / growth` go on, but the best candidate of every targeted cluster set always does, so an
   independent fix is never crowded out by another cluster's stronger one.
2. **guardrails** — at the last rung each accepted candidate's mean cost and p95 latency are compared
   with the baseline's on the same inputs; `within_guardrails` says whether they stay inside the
   workspace's limits. These are known before the holdout is spent: finalist selection prefers
   compliant candidates and merges are built from compliant ones only.
3. **merge** — accepted, compliant candidates addressing different clusters are combined greedily,
   best first; an extension is kept only when it strictly beats what it extends on the union of
   their batches and stays within the guardrails.

Among the accepted, the per-input Pareto front over (objective, cost, latency) marks candidates that
are best on some input for some trade-off (GEPA keeps exactly those as parents).

Replays are bounded by a `ReplayBudget` (calls and the agent's own USD spend as its replay target
reports it), checked before each batch: the search stops starting arms it could not afford, and the
evaluator refuses any batch beyond the budget (`ReplayBudgetExhausted`).

Without a runner nothing can be replayed: `estimate_without_replay` turns the proposers'
trace-based estimates into experiment results marked `estimated`, which validation never promotes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from spectral.engine.errors import ReplayBudgetExhausted
from spectral.engine.proposers.base import Proposal, apply_edits, candidate_id
from spectral.engine.protocols import Runner
from spectral.engine.scoring import CompiledRubric, ScoreTable, score_traces
from spectral.engine.stats import change_pct
from spectral.engine.types import (
    DEFAULT_MAX_COST_INCREASE_PCT,
    DEFAULT_MAX_LATENCY_INCREASE_PCT,
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
"""The pilot rung of the search."""
STAGE_RUNG = "rung"
"""An intermediate rung (reported as `rung2`, `rung3`, ...)."""
STAGE_FULL = "full"
"""The last rung of the search, and merges."""
STAGE_ESTIMATE = "estimate"
STAGE_SAMPLES = "samples"
"""A candidate against the baseline on a sample set, outside a scan (`experiments.run_experiment`)."""

# A candidate must beat its parent by more than float noise to count as an improvement.
_STRICT_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """`pilot_size` inputs on the first rung, times `growth` per rung up to `final_size`; only the best
    `1 / growth` of the strict improvers (and the best per targeted clusters) go up a rung.
    `reserve_per_finalist` replays are kept back for validating each candidate that could become a
    finalist (one per targeted cluster set still in the race, one combination and the baseline)."""

    pilot_size: int = 16
    growth: int = 3
    final_size: int = 216
    replay_batch_size: int = 32
    max_cost_increase_pct: float = DEFAULT_MAX_COST_INCREASE_PCT
    max_latency_increase_pct: float = DEFAULT_MAX_LATENCY_INCREASE_PCT
    reserve_per_finalist: int = 0
    max_reserve_calls: int | None = None

    def reserve(self, arms: Sequence[Proposal]) -> int:
        finalists = len({p.candidate.cluster_ids or (p.candidate.candidate_id,) for p in arms}) + 2
        reserve = self.reserve_per_finalist * finalists
        return reserve if self.max_reserve_calls is None else min(reserve, self.max_reserve_calls)

    def rung_sizes(self, pool_size: int) -> list[int]:
        final = max(1, min(self.final_size, pool_size))
        sizes = []
        size = max(1, min(self.pilot_size, final))
        while size < final:
            sizes.append(size)
            size *= max(2, self.growth)
        sizes.append(final)
        return sizes


@dataclass(frozen=True, slots=True)
class ReplayBudget:
    """What a scan may spend on replays of the agent: calls, and USD as the replay target reports it
    (`cost_usd`); None = no limit. `expected_call_usd` prices a call before any replay was made (the
    mean cost of the recorded traces)."""

    calls: int | None = None
    usd: float | None = None
    expected_call_usd: float = 0.0

    @classmethod
    def for_traces(cls, n_traces: int, mean_trace_cost_usd: float | None) -> ReplayBudget:
        """The default budget: `REPLAY_CALLS_PER_TRACE` calls per trace of the window (at least
        `MIN_REPLAY_CALLS`), and those calls at the traces' mean cost with a 50% margin for changes
        that make answers longer or use a dearer model."""
        calls = max(MIN_REPLAY_CALLS, math.ceil(REPLAY_CALLS_PER_TRACE * n_traces))
        unit = mean_trace_cost_usd if mean_trace_cost_usd and mean_trace_cost_usd > 0 else 0.0
        return cls(calls=calls, usd=round(calls * unit * 1.5, 6) if unit else None, expected_call_usd=unit)


REPLAY_CALLS_PER_TRACE = 2.5
MIN_REPLAY_CALLS = 3000


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
    `checkpoint` is awaited before each batch, so a cancel takes effect between batches."""
    traces: list[Trace] = []
    for start in range(0, len(inputs), batch_size):
        await checkpoint()
        batch = inputs[start : start + batch_size]
        results = await runner.run(config, batch)
        if len(results) != len(batch):
            raise ValueError(f"runner returned {len(results)} results for {len(batch)} inputs")
        batch_traces = [result.to_trace(item, config) for item, result in zip(batch, results, strict=True)]
        traces.extend(batch_traces)
    return traces


class ReplayEvaluator:
    """Replays configs on inputs through the runner, in batches, and scores the replays with the
    scan's rubric and objective scales. Replays are cached per (config, input): the baseline's
    replays are reused by every candidate, and a rung reuses the rungs before it. The budget is
    checked before each batch (`ReplayBudgetExhausted`)."""

    def __init__(
        self,
        runner: Runner,
        rubric: CompiledRubric,
        objective: Objective,
        scales: ObjectiveScales,
        *,
        checkpoint: Checkpoint,
        batch_size: int,
        budget: ReplayBudget | None = None,
    ) -> None:
        self._runner = runner
        self._rubric = rubric
        self._objective = objective
        self._scales = scales
        self._checkpoint = checkpoint
        self._batch_size = batch_size
        self._cache: dict[tuple[str, str], Trace] = {}
        self.budget = budget or ReplayBudget()
        self.replays = 0
        self.spent_usd = 0.0

    def missing(self, config: AgentConfig, inputs: Sequence[ReplayInput]) -> int:
        """How many of `inputs` would have to be replayed for `config` (the rest are cached)."""
        key = config_key(config)
        return sum(1 for item in inputs if (key, item.key) not in self._cache)

    def call_usd(self) -> float:
        """The expected cost of one more replay: the mean so far, else the budget's prior."""
        return self.spent_usd / self.replays if self.replays else self.budget.expected_call_usd

    def can_afford(self, calls: int) -> bool:
        budget = self.budget
        if budget.calls is not None and self.replays + calls > budget.calls:
            return False
        return budget.usd is None or self.spent_usd + calls * self.call_usd() <= budget.usd

    def _charge(self, calls: int) -> None:
        if not self.can_afford(calls):
            raise ReplayBudgetExhausted(
                f"the next {calls} replays would exceed the scan's replay budget "
                f"({self.replays} calls and ${self.spent_usd:.4f} spent)"
            )

    async def evaluate(self, config: AgentConfig, inputs: Sequence[ReplayInput]) -> Evaluation:
        """Replay what is not cached, one batch at a time: each batch is checked against the budget
        with every replay made so far counted, including this call's earlier batches (also when a
        later batch is refused)."""
        key = config_key(config)
        missing = [item for item in inputs if (key, item.key) not in self._cache]
        for start in range(0, len(missing), self._batch_size):
            batch = missing[start : start + self._batch_size]
            self._charge(len(batch))
            replayed = await replay(
                self._runner, config, batch, checkpoint=self._checkpoint, batch_size=self._batch_size
            )
            for item, trace in zip(batch, replayed, strict=True):
                self._cache[(key, item.key)] = trace
                self.replays += 1
                self.spent_usd += trace.cost_usd or 0.0
        traces = [self._cache[(key, item.key)] for item in inputs]
        return Evaluation.score(inputs, traces, self._rubric, self._objective, self._scales)

    def replayed_traces(self) -> list[Trace]:
        """Every replay made so far, in a stable order (for the cost ledger)."""
        return [self._cache[key] for key in sorted(self._cache)]


def compare(
    candidate_id_: str,
    stage: str,
    baseline: Evaluation,
    candidate: Evaluation,
    settings: SearchSettings | None = None,
    weights: npt.NDArray[np.float64] | None = None,
) -> ExperimentResult:
    """Paired summary of a candidate against its parent on the same inputs (NaN rows dropped); with
    `settings`, whether cost and p95 latency stay inside its guardrails. `weights` (one per input)
    make the cost and latency figures those of traffic when the batch over-samples some inputs."""
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
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    base_cost, cand_cost = _weighted_mean(base.cost_usd, w, rows), _weighted_mean(cand.cost_usd, w, rows)
    base_p95, cand_p95 = _weighted_p95(base.latency_ms, w, rows), _weighted_p95(cand.latency_ms, w, rows)
    within = settings is None or (
        change_pct(base_cost, cand_cost) <= settings.max_cost_increase_pct
        and change_pct(base_p95, cand_p95) <= settings.max_latency_increase_pct
    )
    return ExperimentResult(
        candidate_id=candidate_id_,
        stage=stage,
        n_inputs=int(rows.sum()),
        baseline_objective=_mean(base.objective[rows]),
        candidate_objective=_mean(cand.objective[rows]),
        baseline_cost_usd=base_cost,
        candidate_cost_usd=cand_cost,
        baseline_latency_ms=_mean(base.latency_ms[rows]),
        candidate_latency_ms=_mean(cand.latency_ms[rows]),
        dimension_pass_rates=pass_rates,
        baseline_latency_p95_ms=base_p95 if math.isfinite(base_p95) else None,
        candidate_latency_p95_ms=cand_p95 if math.isfinite(cand_p95) else None,
        within_guardrails=within,
    )


def _mean(values: npt.NDArray[np.float64]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0


def _weighted_mean(
    values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], rows: npt.NDArray[np.bool_]
) -> float:
    keep = rows & np.isfinite(values)
    total = float(weights[keep].sum())
    return float((values[keep] * weights[keep]).sum() / total) if total > 0 else 0.0


def _weighted_p95(
    values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], rows: npt.NDArray[np.bool_]
) -> float:
    """The 95th percentile of `values` with each row counting `weights` times (inverted CDF)."""
    keep = rows & np.isfinite(values)
    if not keep.any():
        return float("nan")
    order = np.argsort(values[keep], kind="stable")
    sorted_values, cumulative = values[keep][order], np.cumsum(weights[keep][order])
    index = int(np.searchsorted(cumulative, 0.95 * cumulative[-1], side="left"))
    return float(sorted_values[min(index, sorted_values.size - 1)])


# --------------------------------------------------------------------------------------------------
# The search


@dataclass(frozen=True, slots=True, eq=False)
class SearchOutcome:
    """Every rung of every candidate, the proposals searched (merges included), the accepted ones
    best first (merges first, the furthest-reaching one leading) and whether the budget cut the
    search short."""

    results: tuple[ExperimentResult, ...]
    proposals: Mapping[str, Proposal]
    accepted: tuple[str, ...]
    merged: tuple[str, ...]
    stopped_by_budget: bool = False

    def final_result(self, candidate: str) -> ExperimentResult | None:
        """The candidate's last-stage result."""
        found = [result for result in self.results if result.candidate_id == candidate]
        return found[-1] if found else None


def experiment_pool(
    inputs: Sequence[ReplayInput], cluster_keys: Mapping[str, Sequence[str]], *, limit: int, seed: int
) -> list[ReplayInput]:
    """The inputs the search draws from: all of them up to `limit`, else a seeded sample that takes
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


class _Batches:
    """Rung batches as prefixes of fixed seeded orders: one order of the whole pool and one per
    cluster, so candidates aimed at the same clusters share inputs (and the baseline's replays)."""

    def __init__(
        self, pool: Sequence[ReplayInput], cluster_keys: Mapping[str, Sequence[str]], *, seed: int
    ) -> None:
        rng = np.random.default_rng([seed, 7])
        ordered = sorted(pool, key=lambda item: item.key)
        self._shared = [ordered[int(i)] for i in rng.permutation(len(ordered))]
        by_key = {item.key: item for item in ordered}
        self._clusters: dict[str, list[ReplayInput]] = {}
        for cluster in sorted(cluster_keys):
            members = sorted(key for key in set(cluster_keys[cluster]) if key in by_key)
            self._clusters[cluster] = [by_key[members[int(i)]] for i in rng.permutation(len(members))]

    def batch(self, cluster_ids: Sequence[str], size: int) -> list[ReplayInput]:
        inside: list[ReplayInput] = []
        seen: set[str] = set()
        orders = [self._clusters.get(cluster, []) for cluster in cluster_ids]
        # Round-robin over the targeted clusters' orders, so a merge sees each of its clusters.
        for position in range(max((len(order) for order in orders), default=0)):
            for order in orders:
                if position < len(order) and order[position].key not in seen and len(inside) < size // 2:
                    inside.append(order[position])
                    seen.add(order[position].key)
        targeted = {item.key for order in orders for item in order}
        outside = [item for item in self._shared if item.key not in targeted][: size - len(inside)]
        return sorted(inside + outside, key=lambda item: item.key)

    def weights(self, cluster_ids: Sequence[str], batch: Sequence[ReplayInput]) -> npt.NDArray[np.float64]:
        """Per input of `batch`, how many pool inputs it stands for relative to the others: the
        targeted half is over-sampled, so its cost and latency are weighted back to its share of
        the pool (guardrails are about traffic, not about the batch)."""
        targeted = {item.key for cluster in cluster_ids for item in self._clusters.get(cluster, [])}
        inside = np.array([item.key in targeted for item in batch], dtype=bool)
        share_pool = len(targeted) / max(1, len(self._shared))
        share_batch = float(inside.mean()) if inside.size else 0.0
        if share_batch in (0.0, 1.0):
            return np.ones(len(batch))
        return np.where(inside, share_pool / share_batch, (1.0 - share_pool) / (1.0 - share_batch))


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
    """Run the rungs and the merge (module docstring). `cluster_keys` maps cluster ids to the input
    keys of their traces. `on_stage(stage, fraction)` reports progress that never goes backwards."""
    results: list[ExperimentResult] = []
    by_id = {proposal.candidate.candidate_id: proposal for proposal in proposals}
    batches = _Batches(pool, cluster_keys, seed=seed)
    sizes = settings.rung_sizes(len(pool))
    arms = list(proposals)
    evaluations: dict[str, tuple[Evaluation, Evaluation]] = {}
    last: dict[str, ExperimentResult] = {}
    stopped = False
    accepted: list[tuple[float, str]] = []
    for rung, size in enumerate(sizes):
        final = rung == len(sizes) - 1
        stage = STAGE_FULL if final else STAGE_MINIBATCH if rung == 0 else f"{STAGE_RUNG}{rung + 1}"
        improved: list[tuple[float, Proposal]] = []
        reserve = settings.reserve(arms)
        for done, proposal in enumerate(arms):
            cid = proposal.candidate.candidate_id
            config = apply_edits(baseline, proposal.edits)
            batch = batches.batch(proposal.candidate.cluster_ids, size)
            needed = evaluator.missing(baseline, batch) + evaluator.missing(config, batch)
            if not evaluator.can_afford(needed + reserve):
                stopped = True
                break
            parent = await evaluator.evaluate(baseline, batch)
            child = await evaluator.evaluate(config, batch)
            weights = batches.weights(proposal.candidate.cluster_ids, batch)
            result = compare(cid, stage, parent, child, settings, weights)
            better = result.objective_difference > _STRICT_EPSILON
            results.append(dataclasses.replace(result, accepted=better))
            if better:
                improved.append((result.objective_difference, proposal))
                evaluations[cid] = (parent, child)
                last[cid] = result
            if on_stage is not None:
                await on_stage(stage, (rung + (done + 1) / max(1, len(arms))) / len(sizes))
        if stopped and rung > 0:
            # Arms this rung could not afford keep the verdict of the rung before.
            reached = {r.candidate_id for r in results if r.stage == stage}
            improved += [
                (last[p.candidate.candidate_id].objective_difference, p)
                for p in arms
                if p.candidate.candidate_id not in reached
            ]
        if final or stopped:
            accepted = sorted(
                ((gain, p.candidate.candidate_id) for gain, p in improved),
                key=lambda item: (-item[0], item[1]),
            )
            break
        arms = _promote(
            improved, settings.growth, {cid: result.within_guardrails for cid, result in last.items()}
        )
    if on_stage is not None:
        await on_stage(STAGE_FULL, 1.0)

    merged: list[Proposal] = []
    if not stopped:
        compliant = [by_id[cid] for _, cid in accepted if last[cid].within_guardrails]
        merged = await _merge(
            compliant, baseline, batches, sizes[-1], evaluator, settings, evaluations, last, results
        )
    by_id.update({proposal.candidate.candidate_id: proposal for proposal in merged})
    order = [p.candidate.candidate_id for p in reversed(merged)] + [cid for _, cid in accepted]

    front = _pareto_members({cid: evaluations[cid] for cid in order})
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
        stopped_by_budget=stopped,
    )


def _promote(
    improved: Sequence[tuple[float, Proposal]], growth: int, within: Mapping[str, bool]
) -> list[Proposal]:
    """The strict improvers that go up a rung: for each targeted cluster set, the best of each
    strategy and the best within the guardrails (`within`, by candidate id) — a cheap fix must not
    be crowded out by a stronger one whose cost small batches cannot pin down yet — then the best of
    the rest until `1 / growth` of the improvers (rounded up) are in."""
    ranked = sorted(improved, key=lambda item: (-item[0], item[1].candidate.candidate_id))
    chosen: list[Proposal] = []
    covered: set[tuple[str, ...]] = set()
    covered_within: set[tuple[str, ...]] = set()
    for _, proposal in ranked:
        clusters = (*proposal.candidate.cluster_ids, proposal.candidate.strategy.value)
        compliant = within.get(proposal.candidate.candidate_id, True)
        if clusters not in covered or (compliant and clusters not in covered_within):
            chosen.append(proposal)
            covered.add(clusters)
            if compliant:
                covered_within.add(clusters)
    quota = math.ceil(len(ranked) / max(2, growth))
    for _, proposal in ranked:
        if len(chosen) >= quota:
            break
        if proposal not in chosen:
            chosen.append(proposal)
    return chosen


async def _merge(
    accepted: Sequence[Proposal],
    baseline: AgentConfig,
    batches: _Batches,
    size: int,
    evaluator: ReplayEvaluator,
    settings: SearchSettings,
    evaluations: dict[str, tuple[Evaluation, Evaluation]],
    last: dict[str, ExperimentResult],
    results: list[ExperimentResult],
) -> list[Proposal]:
    """Greedy merge chain of guardrail-compliant candidates: extend the best with the next best that
    addresses other clusters, keeping each extension only if it strictly beats what it extends (on
    the union of their batches) and stays within the guardrails."""
    if len(accepted) < 2:
        return []
    reserve = settings.reserve(accepted)
    chain: list[Proposal] = []
    current = accepted[0]
    for addition in accepted[1:]:
        if set(addition.candidate.cluster_ids) <= set(current.candidate.cluster_ids):
            continue
        edits = current.edits + addition.edits
        diff = ConfigDiff.between(baseline, apply_edits(baseline, edits))
        if diff == ConfigDiff.between(baseline, apply_edits(baseline, current.edits)):
            continue
        cluster_ids = tuple(dict.fromkeys(current.candidate.cluster_ids + addition.candidate.cluster_ids))
        merged_candidate = dataclasses.replace(
            current.candidate,
            candidate_id=candidate_id(current.candidate.strategy, diff),
            diff=diff,
            rationale=f"{current.candidate.rationale}\n\nAlso: {addition.candidate.rationale}",
            cluster_ids=cluster_ids,
            parent_id=current.candidate.candidate_id,
        )
        merged = Proposal(candidate=merged_candidate, edits=edits)
        batch = batches.batch(cluster_ids, size)
        configs = (baseline, apply_edits(baseline, current.edits), apply_edits(baseline, edits))
        if not evaluator.can_afford(sum(evaluator.missing(c, batch) for c in configs) + reserve):
            break
        base_eval, parent_eval, evaluation = [await evaluator.evaluate(c, batch) for c in configs]
        against_parent = compare(merged_candidate.candidate_id, STAGE_FULL, parent_eval, evaluation)
        # Reported against the baseline like every other full-stage result; accepted means it beat
        # the candidate it extends and kept within the guardrails.
        result = compare(
            merged_candidate.candidate_id,
            STAGE_FULL,
            base_eval,
            evaluation,
            settings,
            batches.weights(cluster_ids, batch),
        )
        improved = against_parent.objective_difference > _STRICT_EPSILON and result.within_guardrails
        results.append(dataclasses.replace(result, accepted=improved))
        if improved:
            evaluations[merged_candidate.candidate_id] = (base_eval, evaluation)
            last[merged_candidate.candidate_id] = result
            chain.append(merged)
            current = merged
    return chain


def _pareto_members(evaluations: Mapping[str, tuple[Evaluation, Evaluation]]) -> set[str]:
    """Candidates on the per-input Pareto front over (objective up, cost down, latency down) of at
    least one input, the baseline competing too, over the inputs every candidate was replayed on."""
    if not evaluations:
        return set()
    names = list(evaluations)
    common = set.intersection(*({item.key for item in evaluations[n][1].inputs} for n in names))
    if not common:
        return set()
    keys = sorted(common)

    def rows(evaluation: Evaluation) -> list[int]:
        index = {item.key: row for row, item in enumerate(evaluation.inputs)}
        return [index[key] for key in keys]

    first_base = evaluations[names[0]][0]
    tables = [(first_base.table, rows(first_base))]
    tables += [(evaluations[n][1].table, rows(evaluations[n][1])) for n in names]
    objective = np.stack([np.nan_to_num(t.objective[r], nan=-np.inf) for t, r in tables])
    cost = np.stack([np.nan_to_num(t.cost_usd[r], nan=0.0) for t, r in tables])
    latency = np.stack([np.nan_to_num(t.latency_ms[r], nan=0.0) for t, r in tables])
    members: set[str] = set()
    for i, name in enumerate(names, start=1):
        dominated = np.zeros(objective.shape[1], dtype=bool)
        for j in range(len(tables)):
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
