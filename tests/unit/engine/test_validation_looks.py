"""Validation looks at the holdout once or twice, alpha split between the looks (issue 11): a clear
gain is settled on the first look's few hundred replays, a gain near the workspace's minimum is
judged again on several times the evidence, and the second look's verdict is the one kept."""

import dataclasses

import pytest

from spectral.engine.pipeline import ScanInputs, _collect, holdout_looks, revalidate
from spectral.engine.synthetic import (
    DemoRunner,
    SyntheticWorkspace,
    format_instruction,
    generate_workspace,
    scope_instruction,
    tool_guidance,
)
from spectral.engine.types import AgentConfig, ScanConfig, Verdict

SEED = 32


@pytest.fixture(scope="module")
def workspace() -> SyntheticWorkspace:
    return generate_workspace(SEED, 2500)


def _inputs(workspace: SyntheticWorkspace, **settings: int) -> ScanInputs:
    config = ScanConfig(seed=SEED, **settings)
    return ScanInputs(workspace.baseline, workspace.traces, workspace.rubric, workspace.objective, config)


def _with_lines(workspace: SyntheticWorkspace, *lines: str) -> AgentConfig:
    system = "\n".join([workspace.baseline.templates["system"], *lines])
    return dataclasses.replace(
        workspace.baseline, templates={**workspace.baseline.templates, "system": system}
    )


def test_a_holdout_too_small_for_a_second_look_gets_one_look_at_the_whole_alpha(workspace) -> None:
    _, _, holdout = _collect(_inputs(workspace))
    config = ScanConfig(seed=SEED, max_validation_inputs=300, second_look_inputs=400)
    [look] = holdout_looks(holdout, config)
    assert look.alpha == config.alpha
    assert 290 <= len(look.inputs) <= 300


def test_two_looks_split_alpha_and_the_second_extends_the_first(workspace) -> None:
    _, _, holdout = _collect(_inputs(workspace))
    config = ScanConfig(seed=SEED, max_validation_inputs=200, second_look_inputs=600)
    first, second = holdout_looks(holdout, config)
    assert first.alpha + second.alpha == pytest.approx(config.alpha)
    first_keys, second_keys = {item.key for item in first.inputs}, {item.key for item in second.inputs}
    assert first_keys < second_keys
    assert len(second_keys) >= 1.5 * len(first_keys)
    # Whole sessions on both looks: a session the first look saw is not continued by the second.
    sessions_first = {item.session_id for item in first.inputs}
    assert all(item.session_id not in sessions_first for item in second.inputs if item.key not in first_keys)


async def test_a_gain_the_first_look_cannot_decide_is_decided_on_the_second(workspace) -> None:
    fix = _with_lines(workspace, scope_instruction())
    one_look = await revalidate(
        _inputs(workspace, max_validation_inputs=24, second_look_inputs=0), fix, runner=DemoRunner(seed=SEED)
    )
    assert one_look.verdict is Verdict.INCONCLUSIVE
    assert one_look.n_inputs <= 24
    assert one_look.ci_level == 0.95

    two_looks = await revalidate(
        _inputs(workspace, max_validation_inputs=24, second_look_inputs=600),
        fix,
        runner=DemoRunner(seed=SEED),
    )
    assert two_looks.verdict is Verdict.RECOMMEND
    assert two_looks.n_inputs > 400
    assert "at a second look" in two_looks.verdict_reason
    assert two_looks.ci_level == 0.975  # alpha split between the two looks
    assert two_looks.ci_low > 0.02  # the workspace's default minimum, at the second look's level


async def test_a_clear_gain_is_settled_on_the_first_look(workspace) -> None:
    result = await revalidate(
        _inputs(workspace, max_validation_inputs=300, second_look_inputs=1200),
        # The three prompt fixes together: a large gain, within the guardrails.
        _with_lines(workspace, format_instruction(), tool_guidance(), scope_instruction()),
        runner=DemoRunner(seed=SEED),
    )
    assert result.verdict is Verdict.RECOMMEND
    assert result.n_inputs <= 300
    assert "second look" not in result.verdict_reason
