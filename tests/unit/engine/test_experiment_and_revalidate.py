"""The worker's two entry points outside a scan: a sample-set experiment (`run_experiment`) and the
holdout revalidation of one change set (`revalidate`), which must reproduce the scan's phase 6."""

import dataclasses
import json
from collections.abc import Sequence

import pytest

from spectral.engine.errors import ScanCancelled
from spectral.engine.experiments import run_experiment
from spectral.engine.pipeline import ScanInputs, revalidate, run_scan
from spectral.engine.synthetic import DemoRunner, SyntheticWorkspace, generate_workspace
from spectral.engine.types import (
    MAX_OUTPUT_CHARS,
    AgentConfig,
    ExperimentReport,
    ReplayInput,
    ReplayResult,
    ScanConfig,
    ScanReport,
)

SEED = 32
N_SAMPLES = 400


@pytest.fixture(scope="module")
def workspace() -> SyntheticWorkspace:
    return generate_workspace(SEED, 2500)


@pytest.fixture(scope="module")
def samples(workspace: SyntheticWorkspace) -> list[ReplayInput]:
    """A sample set: inputs with a reference answer and a sample id, no trace or session."""
    return [
        ReplayInput(input=trace.input, sample_id=f"smp_{index:04d}", expected_output=trace.expected_output)
        for index, trace in enumerate(workspace.traces[:N_SAMPLES])
    ]


def _scan_inputs(workspace: SyntheticWorkspace) -> ScanInputs:
    config = ScanConfig(seed=SEED)
    return ScanInputs(workspace.baseline, workspace.traces, workspace.rubric, workspace.objective, config)


@pytest.fixture(scope="module")
async def scan_report(workspace: SyntheticWorkspace) -> ScanReport:
    return await run_scan(_scan_inputs(workspace), runner=DemoRunner(seed=SEED))


async def _experiment(
    workspace: SyntheticWorkspace, samples: list[ReplayInput], candidate: AgentConfig, **kwargs
) -> ExperimentReport:
    return await run_experiment(
        baseline=workspace.baseline,
        candidate=candidate,
        inputs=samples,
        rubric=workspace.rubric,
        objective=workspace.objective,
        runner=DemoRunner(seed=SEED),
        seed=SEED,
        **kwargs,
    )


# --------------------------------------------------------------------------------------------------
# run_experiment


async def test_oracle_fix_shows_a_gain_with_per_input_rows(workspace, samples) -> None:
    report = await _experiment(workspace, samples, workspace.oracle, candidate_id="cand_oracle")

    assert report.result.candidate_id == "cand_oracle"
    assert report.result.n_inputs == N_SAMPLES
    assert report.result.objective_difference > 0
    assert 0 < report.ci_low < report.result.objective_difference < report.ci_high
    assert report.n_sessions == N_SAMPLES  # samples without a session are their own resampling unit
    # The oracle fixes the planted format failures: the JSON dimension's pass rate rises.
    before, after = report.result.dimension_pass_rates["valid_json"]
    assert after > before

    assert [row.key for row in report.rows] == [item.sample_id for item in samples]
    fixed = [
        row
        for row in report.rows
        if "valid_json" in row.baseline.score.failed_dimensions
        and "valid_json" not in row.candidate.score.failed_dimensions
    ]
    assert fixed
    row = fixed[0]
    assert row.objective_difference is not None
    assert row.objective_difference > 0
    assert row.baseline.output != row.candidate.output
    assert row.candidate.cost_usd is not None
    assert row.candidate.latency_ms is not None


async def test_no_op_candidate_gives_a_ci_straddling_zero(workspace, samples) -> None:
    # An unused param changes nothing the agent does but re-draws its sampling noise (vague answers,
    # latency jitter), so the differences are noise around zero, not all exactly zero.
    no_op = dataclasses.replace(workspace.baseline, params={**workspace.baseline.params, "user": "ops"})
    report = await _experiment(workspace, samples, no_op)

    assert any(row.objective_difference for row in report.rows)
    assert report.ci_low < 0 < report.ci_high


async def test_experiment_is_deterministic_and_serialisable(workspace, samples) -> None:
    first = await _experiment(workspace, samples[:120], workspace.oracle)
    second = await _experiment(workspace, samples[:120], workspace.oracle)

    text = json.dumps(first.to_dict(), sort_keys=True)
    assert text == json.dumps(second.to_dict(), sort_keys=True)
    assert ExperimentReport.from_dict(json.loads(text)) == first


async def test_given_scales_are_used(workspace, samples) -> None:
    default = await _experiment(workspace, samples[:60], workspace.oracle)
    scales = dataclasses.replace(default.scales, cost_ref_usd=default.scales.cost_ref_usd * 10)
    given = await _experiment(workspace, samples[:60], workspace.oracle, scales=scales)

    assert given.scales == scales
    assert given.result.baseline_objective != default.result.baseline_objective


async def test_experiment_cancel_stops_between_batches(workspace, samples) -> None:
    runner = DemoRunner(seed=SEED)
    checks = 0

    async def checkpoint() -> None:
        nonlocal checks
        checks += 1
        if checks > 2:
            raise ScanCancelled("cancelled")

    with pytest.raises(ScanCancelled):
        await run_experiment(
            baseline=workspace.baseline,
            candidate=workspace.oracle,
            inputs=samples,
            rubric=workspace.rubric,
            objective=workspace.objective,
            runner=runner,
            checkpoint=checkpoint,
        )
    assert 0 < runner.calls < N_SAMPLES


class VerboseRunner:
    async def run(self, config: AgentConfig, inputs: Sequence[ReplayInput]) -> list[ReplayResult]:
        return [ReplayResult(output="x" * (3 * MAX_OUTPUT_CHARS)) for _ in inputs]


async def test_outputs_are_truncated_in_rows(workspace, samples) -> None:
    report = await run_experiment(
        baseline=workspace.baseline,
        candidate=workspace.oracle,
        inputs=samples[:3],
        rubric=workspace.rubric,
        objective=workspace.objective,
        runner=VerboseRunner(),
    )
    assert {len(row.candidate.output) for row in report.rows} == {MAX_OUTPUT_CHARS}
    # Scored on the whole output: the truncation is only for display.
    assert all("valid_json" in row.candidate.score.failed_dimensions for row in report.rows)


async def test_experiment_needs_inputs(workspace) -> None:
    with pytest.raises(ValueError, match="at least one input"):
        await _experiment(workspace, [], workspace.oracle)


# --------------------------------------------------------------------------------------------------
# revalidate


async def test_revalidate_reproduces_the_scans_validation(workspace, scan_report) -> None:
    validated = [change for change in scan_report.changes if change.validation is not None]
    assert any(change.verdict.value == "recommend" for change in validated)
    for change in validated:
        expected = change.validation
        result = await revalidate(
            _scan_inputs(workspace),
            change.candidate.diff.apply(workspace.baseline),
            runner=DemoRunner(seed=SEED),
            targeted_cluster_ids=change.candidate.cluster_ids,
            candidate_id=change.candidate.candidate_id,
        )
        assert result.verdict is expected.verdict
        assert (result.ci_low, result.ci_high, result.mean_difference) == (
            expected.ci_low,
            expected.ci_high,
            expected.mean_difference,
        )
        # A revalidation is a family of one: only the Holm adjustment across finalists differs.
        assert result.p_value_adjusted == result.p_value
        assert dataclasses.replace(result, p_value_adjusted=expected.p_value_adjusted) == expected


async def test_revalidate_is_deterministic(workspace, scan_report) -> None:
    change = next(c for c in scan_report.changes if c.validation is not None)
    candidate = change.candidate.diff.apply(workspace.baseline)
    first = await revalidate(_scan_inputs(workspace), candidate, runner=DemoRunner(seed=SEED))
    second = await revalidate(_scan_inputs(workspace), candidate, runner=DemoRunner(seed=SEED))
    assert first == second
    assert first.candidate_id  # named by the config's hash when no id is given


async def test_revalidate_cancel_stops_it(workspace) -> None:
    runner = DemoRunner(seed=SEED)

    async def checkpoint() -> None:
        raise ScanCancelled("cancelled")

    with pytest.raises(ScanCancelled):
        await revalidate(_scan_inputs(workspace), workspace.oracle, runner=runner, checkpoint=checkpoint)
    assert runner.calls == 0
