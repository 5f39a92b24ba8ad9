"""Search: minibatch then full set for strict improvers, merges, Pareto front, estimates."""

import numpy as np
import pytest

from spectral.engine.errors import ReplayBudgetExhausted, ScanCancelled
from spectral.engine.proposers.base import Edit, EditKind, Estimate, make_proposal
from spectral.engine.scoring import CompiledRubric, objective_scales_from
from spectral.engine.search import (
    STAGE_FULL,
    STAGE_MINIBATCH,
    ReplayBudget,
    ReplayEvaluator,
    SearchSettings,
    estimate_without_replay,
    search,
)
from spectral.engine.synthetic import DemoRunner, format_instruction, generate_workspace
from spectral.engine.types import ReplayInput, Strategy


async def _no_cancel() -> None:
    return None


def _setup(checkpoint=_no_cancel):
    workspace = generate_workspace(21, 800)
    pool = [ReplayInput.from_trace(t) for t in workspace.traces[:300]]
    runner = DemoRunner(seed=21)
    evaluator = ReplayEvaluator(
        runner,
        CompiledRubric.compile(workspace.rubric),
        workspace.objective,
        objective_scales_from(workspace.traces),
        checkpoint=checkpoint,
        batch_size=32,
    )
    good = make_proposal(
        workspace.baseline,
        Strategy.PLAYBOOK,
        [Edit(EditKind.APPEND_TO_TEMPLATE, format_instruction(), "system")],
        "format",
        ["c-format"],
    )
    longer = make_proposal(
        workspace.baseline,
        Strategy.PLAYBOOK,
        [Edit(EditKind.SET_PARAM, 512, "max_tokens")],
        "tokens",
        ["c-trunc"],
    )
    useless = make_proposal(
        workspace.baseline,
        Strategy.PLAYBOOK,
        [Edit(EditKind.SET_PARAM, 0.31, "temperature")],
        "noop",
        ["c-x"],
    )
    assert good
    assert longer
    assert useless
    return workspace, pool, runner, evaluator, [good, longer, useless]


async def test_strict_improvers_climb_the_rungs_and_merge() -> None:
    workspace, pool, _runner, evaluator, proposals = _setup()
    settings = SearchSettings(
        pilot_size=24, growth=3, final_size=216, max_cost_increase_pct=50, max_latency_increase_pct=50
    )
    outcome = await search(proposals, workspace.baseline, pool, {}, evaluator, settings, seed=1)
    stages = {(r.candidate_id, r.stage): r for r in outcome.results}
    good, _longer, useless = (p.candidate.candidate_id for p in proposals)
    assert stages[(good, STAGE_MINIBATCH)].accepted
    assert stages[(good, STAGE_FULL)].accepted
    assert stages[(good, STAGE_FULL)].n_inputs == 216
    # A no-op change can beat the parent by sampling noise here; holdout validation is what rejects it.
    assert (useless, STAGE_MINIBATCH) in stages
    assert outcome.merged, "the format and truncation fixes address different clusters"
    merged = outcome.proposals[outcome.merged[-1]].candidate
    assert set(merged.cluster_ids) == {"c-format", "c-trunc"}
    assert outcome.accepted[0] == outcome.merged[-1]
    assert any(r.on_pareto_front for r in outcome.results)


async def test_candidates_beyond_the_guardrails_are_never_merged() -> None:
    workspace, pool, _runner, evaluator, proposals = _setup()
    strict = SearchSettings(max_cost_increase_pct=0.0, max_latency_increase_pct=0.0)
    outcome = await search(proposals, workspace.baseline, pool, {}, evaluator, strict, seed=1)
    final = {r.candidate_id: r for r in outcome.results if r.stage == STAGE_FULL}
    assert any(not r.within_guardrails for r in final.values())
    assert not outcome.merged


async def test_the_replay_budget_stops_the_search_before_a_batch_it_cannot_afford() -> None:
    workspace, pool, runner, evaluator, proposals = _setup()
    evaluator.budget = ReplayBudget(calls=60)
    outcome = await search(
        proposals, workspace.baseline, pool, {}, evaluator, SearchSettings(pilot_size=24), seed=1
    )
    assert outcome.stopped_by_budget
    assert runner.calls == evaluator.replays <= 60
    with pytest.raises(ReplayBudgetExhausted):
        await evaluator.evaluate(workspace.baseline, pool)
    assert runner.calls <= 60


async def test_the_replay_budget_counts_every_batch_of_one_evaluation() -> None:
    # 100 inputs in batches of 32 against 70 calls: two batches fit, the third is refused, and the
    # replays made before the refusal are counted and kept.
    workspace, pool, runner, evaluator, _ = _setup()
    evaluator.budget = ReplayBudget(calls=70)
    with pytest.raises(ReplayBudgetExhausted):
        await evaluator.evaluate(workspace.baseline, pool[:100])
    assert runner.calls == evaluator.replays == 64
    assert evaluator.missing(workspace.baseline, pool[:64]) == 0
    assert evaluator.spent_usd > 0
    with pytest.raises(ReplayBudgetExhausted):
        await evaluator.evaluate(workspace.baseline, pool[:100])
    assert runner.calls == 64


def test_default_replay_budget_is_sized_from_the_trace_count() -> None:
    assert ReplayBudget.for_traces(3000, 0.001).calls == 7500
    assert ReplayBudget.for_traces(10, None) == ReplayBudget(calls=3000, usd=None, expected_call_usd=0.0)
    assert ReplayBudget.for_traces(3000, 0.001).usd == pytest.approx(7500 * 0.001 * 1.5)


async def test_replays_are_cached_per_config_and_input() -> None:
    workspace, pool, runner, evaluator, _ = _setup()
    await evaluator.evaluate(workspace.baseline, pool[:50])
    await evaluator.evaluate(workspace.baseline, pool[:80])
    assert runner.calls == 80


async def test_cancel_is_checked_between_batches() -> None:
    async def cancelled() -> None:
        raise ScanCancelled("stop")

    workspace, pool, runner, evaluator, _ = _setup(cancelled)
    with pytest.raises(ScanCancelled):
        await evaluator.evaluate(workspace.baseline, pool)
    assert runner.calls == 0


def test_without_replay_only_estimates_survive() -> None:
    workspace, _, _, _, proposals = _setup()
    with_estimate = make_proposal(
        workspace.baseline,
        Strategy.MODEL_ROUTING,
        [Edit(EditKind.SET_MODEL, "claude-3-5-haiku")],
        "cheaper",
        [],
        estimate=Estimate(0.01, -60.0, "per-model means"),
    )
    assert with_estimate is not None
    kept, results = estimate_without_replay(
        [*proposals, with_estimate],
        n_inputs=10,
        baseline_objective=0.5,
        baseline_cost_usd=1.0,
        baseline_latency_ms=9,
    )
    assert [p.candidate.candidate_id for p in kept] == [with_estimate.candidate.candidate_id]
    assert kept[0].candidate.estimated
    assert results[0].estimated
    assert np.isclose(results[0].candidate_cost_usd, 0.4)
