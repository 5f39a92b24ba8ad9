"""The planted-failure workspace and the demo agent."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from spectral.engine.protocols import Runner
from spectral.engine.scoring import objective_scales_from, score_traces
from spectral.engine.stats import paired_bootstrap
from spectral.engine.synthetic import (
    FIXABLE_MODES,
    TRUNCATION_SAFE_MAX_TOKENS,
    DemoRunner,
    FailureMode,
    SyntheticWorkspace,
    demo_agent_reply,
    format_instruction,
    generate_workspace,
    has_format_example,
    has_format_instruction,
    has_scope_instruction,
    has_tool_guidance,
    scope_instruction,
    tool_guidance,
)
from spectral.engine.types import AgentConfig, ReplayInput, TraceStatus


@pytest.fixture(scope="module")
def workspace() -> SyntheticWorkspace:
    return generate_workspace(12, 3000)


def with_system(config: AgentConfig, extra: str) -> AgentConfig:
    return dataclasses.replace(
        config, templates={**config.templates, "system": config.templates["system"] + extra}
    )


def objective_gain(ws: SyntheticWorkspace, candidate: AgentConfig) -> tuple[float, float, float]:
    """Mean paired objective difference candidate - baseline on the workspace's inputs, with its CI."""
    scales = objective_scales_from(ws.traces)
    inputs = [ReplayInput.from_trace(trace) for trace in ws.traces]

    def scored(config: AgentConfig) -> np.ndarray:
        replayed = [demo_agent_reply(inp, config, seed=ws.seed).to_trace(inp, config) for inp in inputs]
        return score_traces(replayed, ws.rubric, ws.objective, scales).objective

    differences = scored(candidate) - scored(ws.baseline)
    result = paired_bootstrap(differences, [inp.session_id or "" for inp in inputs], seed=0)
    return result.mean, result.low, result.high


def test_same_seed_same_workspace() -> None:
    first = generate_workspace(5, 400)
    second = generate_workspace(5, 400)
    assert first == second
    assert generate_workspace(6, 400).traces != first.traces


def test_workspace_shape(workspace: SyntheticWorkspace) -> None:
    traces = workspace.traces
    assert len(traces) == 3000
    assert len({t.trace_id for t in traces}) == 3000
    session_sizes = Counter(t.session_id for t in traces)
    assert set(session_sizes.values()) <= {1, 2, 3, 4, 5}
    models = Counter(t.model for t in traces)
    assert set(models) == {"gpt-4o", "gpt-4o-mini", "claude-3-5-haiku"}
    assert models["gpt-4o"] > models["gpt-4o-mini"] > 0
    assert any(t.tool_calls for t in traces)
    assert any(t.feedback for t in traces)
    assert all(t.expected_output for t in traces)
    costs = {model: np.mean([t.cost_usd for t in traces if t.model == model]) for model in models}
    assert costs["gpt-4o-mini"] < costs["claude-3-5-haiku"] < costs["gpt-4o"]


def test_ground_truth_shares(workspace: SyntheticWorkspace) -> None:
    shares = Counter(workspace.ground_truth.values())
    total = len(workspace.traces)
    assert set(shares) == set(FailureMode)
    expected = {
        FailureMode.FORMAT: 0.15,
        FailureMode.TRUNCATION: 0.11,
        FailureMode.TOOL_ARGS: 0.19,
        FailureMode.REFUSAL: 0.18,
        FailureMode.UPSTREAM_TIMEOUT: 0.015,
    }
    for mode, share in expected.items():
        assert shares[mode] / total == pytest.approx(share, abs=0.02), mode
    assert 0.0 < len(workspace.noise) / total < 0.15
    assert not set(workspace.noise) & set(workspace.ground_truth)


def test_planted_modes_leave_their_characteristic_traces(workspace: SyntheticWorkspace) -> None:
    by_id = {t.trace_id: t for t in workspace.traces}
    for trace_id in workspace.mode_trace_ids(FailureMode.TRUNCATION):
        assert by_id[trace_id].finish_reason == "length"
    for trace_id in workspace.mode_trace_ids(FailureMode.TOOL_ARGS):
        errors = [c.error for c in by_id[trace_id].tool_calls if c.error]
        assert errors
        assert "expected 'ORD-' followed by 5 digits" in errors[0]
    for trace_id in workspace.mode_trace_ids(FailureMode.UPSTREAM_TIMEOUT):
        assert by_id[trace_id].status is TraceStatus.ERROR
        assert by_id[trace_id].error_type == "UpstreamTimeout"


def test_noise_only_workspace_has_no_planted_mode() -> None:
    ws = generate_workspace(3, 1500, noise_only=True)
    assert ws.ground_truth == {}
    assert ws.modes == ()
    assert ws.noise
    assert has_format_instruction(ws.baseline)
    assert has_tool_guidance(ws.baseline)
    assert has_scope_instruction(ws.baseline)
    assert ws.oracle == ws.baseline


def test_subset_of_modes() -> None:
    ws = generate_workspace(4, 1500, modes=(FailureMode.FORMAT,))
    assert set(ws.ground_truth.values()) == {FailureMode.FORMAT}


def test_fix_recognition_uses_real_instructions() -> None:
    base = generate_workspace(1, 10).baseline
    assert not has_format_instruction(base)
    assert has_format_instruction(with_system(base, "\n" + format_instruction()))
    assert not has_format_instruction(with_system(base, "\nAnswer in JSON."))  # keys not named
    assert has_format_example(with_system(base, '\nExample: {"answer": "Hi", "category": "other"}'))
    assert not has_tool_guidance(base)
    assert has_tool_guidance(with_system(base, "\n" + tool_guidance()))
    assert has_tool_guidance(with_system(base, "\nlookup_order: the order_id must look like ORD-12345."))
    assert not has_scope_instruction(base)
    assert has_scope_instruction(with_system(base, "\n" + scope_instruction()))


def test_demo_agent_is_deterministic_per_seed_input_and_config(workspace: SyntheticWorkspace) -> None:
    inp = ReplayInput.from_trace(workspace.traces[0])
    assert demo_agent_reply(inp, workspace.baseline, seed=1) == demo_agent_reply(
        inp, workspace.baseline, seed=1
    )
    replies = {demo_agent_reply(inp, workspace.baseline, seed=seed).latency_ms for seed in range(5)}
    assert len(replies) > 1


def test_replaying_the_baseline_reproduces_baseline_model_traces(workspace: SyntheticWorkspace) -> None:
    for trace in [t for t in workspace.traces if t.model == workspace.baseline.model][:200]:
        reply = demo_agent_reply(ReplayInput.from_trace(trace), workspace.baseline, seed=workspace.seed)
        assert reply.output == trace.output
        assert reply.tool_calls == trace.tool_calls


@pytest.mark.parametrize("mode", FIXABLE_MODES)
def test_each_fix_raises_the_objective(workspace: SyntheticWorkspace, mode: FailureMode) -> None:
    base = workspace.baseline
    fixed = {
        FailureMode.FORMAT: with_system(base, "\n" + format_instruction()),
        FailureMode.TRUNCATION: dataclasses.replace(
            base, params={**base.params, "max_tokens": TRUNCATION_SAFE_MAX_TOKENS}
        ),
        FailureMode.TOOL_ARGS: with_system(base, "\n" + tool_guidance()),
        FailureMode.REFUSAL: with_system(base, "\n" + scope_instruction()),
    }[mode]
    mean, low, _ = objective_gain(workspace, fixed)
    # Clearly above the workspace's default min_holdout_gain (0.02), as a planted fix should be.
    assert low > 0.02, (mode, mean, low)


def test_fixes_cost_what_they_would_in_a_production_agent(workspace: SyntheticWorkspace) -> None:
    """The prompt is production-sized, so one instruction costs a few percent (all three together
    stay within the default +10% guardrail), while completing truncated answers costs p95 latency
    beyond it."""
    base = workspace.baseline
    inputs = [ReplayInput.from_trace(trace) for trace in workspace.traces]

    def cost_and_p95(config: AgentConfig) -> tuple[float, float]:
        replies = [demo_agent_reply(inp, config, seed=workspace.seed) for inp in inputs]
        costs = [reply.cost_usd for reply in replies if reply.cost_usd is not None]
        return float(np.mean(costs)), float(np.percentile([reply.latency_ms for reply in replies], 95))

    base_cost, base_p95 = cost_and_p95(base)
    fixes = (format_instruction(), tool_guidance(), scope_instruction())
    for fix in fixes:
        cost, p95 = cost_and_p95(with_system(base, "\n" + fix))
        assert 1.0 < 100 * (cost / base_cost - 1) < 5.0, fix
        assert abs(100 * (p95 / base_p95 - 1)) < 5.0, fix
    cost, _ = cost_and_p95(with_system(base, "".join("\n" + fix for fix in fixes)))
    assert 100 * (cost / base_cost - 1) < 10.0
    _, p95 = cost_and_p95(dataclasses.replace(base, params={**base.params, "max_tokens": 512}))
    assert 100 * (p95 / base_p95 - 1) > 10.0


def test_no_op_change_and_cheaper_model_are_no_real_gain(workspace: SyntheticWorkspace) -> None:
    _, low, high = objective_gain(workspace, with_system(workspace.baseline, "\nBe polite."))
    assert low < 0 < high
    _, _, high = objective_gain(workspace, dataclasses.replace(workspace.baseline, model="gpt-4o-mini"))
    assert high < 0


def test_oracle_beats_every_single_fix(workspace: SyntheticWorkspace) -> None:
    oracle_mean, _, _ = objective_gain(workspace, workspace.oracle)
    format_mean, _, _ = objective_gain(
        workspace, with_system(workspace.baseline, "\n" + format_instruction())
    )
    assert oracle_mean > format_mean > 0


async def test_demo_runner_implements_the_runner_protocol(workspace: SyntheticWorkspace) -> None:
    runner = DemoRunner(seed=workspace.seed)
    assert isinstance(runner, Runner)
    inputs = [ReplayInput.from_trace(t) for t in workspace.traces[:20]]
    results = await runner.run(workspace.baseline, inputs)
    assert len(results) == 20
    assert runner.calls == 20
    assert results[0] == demo_agent_reply(inputs[0], workspace.baseline, seed=workspace.seed)
