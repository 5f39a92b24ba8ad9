"""Model routing: move the agent along the cost-quality Pareto frontier its own traces show.

Agents often run several models (an A/B, a fallback, a cheaper tier). Per model, the traces give a
mean quality and a mean cost; the models no other model beats on both form the frontier. A move from
the config's model to a frontier model is proposed when the data supports it:

- cheaper, with the 95% CI of the quality difference above -tolerance (non-inferior), or
- better, with the CI above zero and the cost increase within the workspace's guardrail.

The CI is Welch's normal interval on the difference of means. Trace-based figures are confounded by
whatever decided which model served which request, so the move is only an estimate until replay
and the holdout confirm it; the rationale says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from spectral.engine.proposers.base import Edit, EditKind, Estimate, Proposal, ProposalContext, make_proposal
from spectral.engine.types import CauseCategory, Cluster, Strategy

# Fewer traces than this on a model say too little about it to move traffic.
MIN_TRACES_PER_MODEL = 30
_Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class ModelStats:
    model: str
    n: int
    quality: float
    quality_var: float
    cost_usd: float
    latency_ms: float
    objective: float


def model_stats(context: ProposalContext) -> dict[str, ModelStats]:
    """Per-model means over the analysis traces with a scored quality."""
    table = context.table
    models = np.array([trace.model or "" for trace in context.traces], dtype=object)
    stats: dict[str, ModelStats] = {}
    for model in sorted(set(models.tolist()) - {""}):
        rows = (models == model) & np.isfinite(table.quality)
        n = int(rows.sum())
        if n == 0:
            continue
        quality = table.quality[rows]
        stats[model] = ModelStats(
            model=model,
            n=n,
            quality=float(quality.mean()),
            quality_var=float(quality.var(ddof=1)) if n > 1 else 0.0,
            cost_usd=_nanmean(table.cost_usd[rows]),
            latency_ms=_nanmean(table.latency_ms[rows]),
            objective=_nanmean(table.objective[rows]),
        )
    return stats


def _nanmean(values: npt.NDArray[np.float64]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0


def pareto_frontier(stats: dict[str, ModelStats]) -> list[ModelStats]:
    """Models that no other model beats on both cost (lower) and quality (higher), cheapest first."""
    frontier = [
        a
        for a in stats.values()
        if not any(
            (b.cost_usd <= a.cost_usd and b.quality >= a.quality)
            and (b.cost_usd < a.cost_usd or b.quality > a.quality)
            for b in stats.values()
        )
    ]
    return sorted(frontier, key=lambda s: (s.cost_usd, s.model))


def quality_difference_ci(to: ModelStats, base: ModelStats) -> tuple[float, float, float]:
    """(difference, low, high) of mean quality, Welch's 95% normal interval."""
    difference = to.quality - base.quality
    se = math.sqrt(to.quality_var / to.n + base.quality_var / base.n)
    return difference, difference - _Z95 * se, difference + _Z95 * se


def propose(context: ProposalContext) -> list[Proposal]:
    cost_clusters = [c for c in context.clusters if c.cause in (CauseCategory.COST, CauseCategory.LATENCY)]
    proposal = _best_move(context, cost_clusters, Strategy.MODEL_ROUTING)
    return [] if proposal is None else [proposal]


def propose_model_move(context: ProposalContext, cluster: Cluster, strategy: Strategy) -> Proposal | None:
    """The playbook's fix for a cost or latency cluster on the config's model."""
    return _best_move(context, [cluster], strategy)


def _best_move(context: ProposalContext, clusters: list[Cluster], strategy: Strategy) -> Proposal | None:
    stats = model_stats(context)
    current = stats.get(context.baseline.model)
    if current is None or current.n < MIN_TRACES_PER_MODEL:
        return None
    tolerance = context.config.non_inferiority_margin
    max_cost_increase = context.config.max_cost_increase_pct
    best: tuple[float, ModelStats, tuple[float, float, float]] | None = None
    for option in pareto_frontier(stats):
        if option.model == current.model or option.n < MIN_TRACES_PER_MODEL:
            continue
        interval = quality_difference_ci(option, current)
        cheaper = option.cost_usd < current.cost_usd and interval[1] > -tolerance
        cost_increase = (
            100.0 * (option.cost_usd - current.cost_usd) / current.cost_usd if current.cost_usd else 0
        )
        better = interval[1] > 0 and cost_increase <= max_cost_increase
        gain = option.objective - current.objective
        if (cheaper or better) and gain > 0 and (best is None or gain > best[0]):
            best = (gain, option, interval)
    if best is None:
        return None
    gain, option, (difference, low, high) = best
    cost_change = 100.0 * (option.cost_usd - current.cost_usd) / current.cost_usd if current.cost_usd else 0.0
    rationale = (
        f"Over the analysis traces, {option.model} ({option.n} traces) scores a mean quality "
        f"{difference:+.3f} against {current.model} ({current.n} traces), 95% CI [{low:+.3f}, {high:+.3f}], "
        f"at {cost_change:+.0f}% cost per trace and {option.latency_ms - current.latency_ms:+.0f} ms mean "
        f"latency; it is on the cost-quality Pareto frontier of the models in use. These are trace-based "
        f"figures (traffic was not randomised across models) until replay and the holdout confirm them."
    )
    estimate = Estimate(
        objective_gain=gain,
        cost_change_pct=cost_change,
        basis=f"per-model means of the analysis traces ({option.model} vs {current.model})",
    )
    return make_proposal(
        context.baseline,
        strategy,
        [Edit(EditKind.SET_MODEL, option.model)],
        rationale,
        [cluster.cluster_id for cluster in clusters],
        estimate=estimate,
    )
