"""Engine types: JSON round-trips, validation and config diffs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spectral.engine.errors import ConfigDiffConflictError, InvalidRubricError
from spectral.engine.types import (
    AgentConfig,
    Candidate,
    CauseCategory,
    ChangeInterval,
    ChangeKind,
    Cluster,
    ConfigChange,
    ConfigDiff,
    ConstraintCheck,
    CostEntry,
    Dimension,
    ExperimentResult,
    Message,
    Objective,
    ProposedChange,
    ReplayInput,
    ReplayResult,
    Rubric,
    ScanConfig,
    ScanReport,
    ScorerSpec,
    ScorerType,
    Span,
    Strategy,
    ToolCall,
    Trace,
    TraceStatus,
    ValidationResult,
    Verdict,
)

CONFIG = AgentConfig(
    model="gpt-4o",
    params={"temperature": 0.2, "max_tokens": 200},
    templates={"system": "You are helpful.", "user": "{{claim}}"},
    tools=({"name": "lookup", "parameters": {"id": "string"}},),
)


def full_trace() -> Trace:
    return Trace(
        trace_id="t1",
        input=(Message("system", "be nice"), Message("user", "hello")),
        output='{"a": 1}',
        session_id="s1",
        agent_id="a1",
        expected_output="x",
        model="gpt-4o",
        status=TraceStatus.ERROR,
        error_type="Timeout",
        error_message="too slow",
        finish_reason="length",
        latency_ms=12.5,
        cost_usd=0.001,
        input_tokens=10,
        output_tokens=20,
        tool_calls=(ToolCall("lookup", {"id": "1"}, "bad id"),),
        feedback=(0.0, 1.0),
        spans=(Span("sp1", "llm", None, "llm", TraceStatus.ERROR, "E", "m", 3.0, {"k": "v"}),),
        metadata={"env": "prod"},
    )


def json_round_trip(value: object) -> Any:
    return json.loads(json.dumps(value))


def test_trace_round_trips_through_json() -> None:
    trace = full_trace()
    assert Trace.from_dict(json_round_trip(trace.to_dict())) == trace
    assert trace.input_text == "hello"
    assert trace.session_key == "s1"


def test_trace_defaults_from_minimal_dict() -> None:
    trace = Trace.from_dict({"trace_id": "t", "input": "q", "output": "a"})
    assert trace.status is TraceStatus.OK
    assert trace.tool_calls == ()
    assert trace.feedback == ()
    assert trace.session_key == "t"


def test_agent_config_keeps_the_api_shape() -> None:
    assert CONFIG.to_dict() == {
        "model": "gpt-4o",
        "params": {"temperature": 0.2, "max_tokens": 200},
        "templates": {"system": "You are helpful.", "user": "{{claim}}"},
        "tools": [{"name": "lookup", "parameters": {"id": "string"}}],
    }
    assert AgentConfig.from_dict(CONFIG.to_dict()) == CONFIG


def test_diff_between_and_apply_round_trip() -> None:
    target = AgentConfig(
        model="gpt-4o-mini",
        params={"temperature": 0.2, "max_tokens": 400},
        templates={"system": "You are helpful. Reply in JSON.", "user": "{{claim}}"},
        tools=CONFIG.tools,
    )
    diff = ConfigDiff.between(CONFIG, target)
    assert [c.kind for c in diff.changes] == [
        ChangeKind.SET_MODEL,
        ChangeKind.SET_PARAM,
        ChangeKind.EDIT_TEMPLATE,
    ]
    assert diff.apply(CONFIG) == target
    assert ConfigDiff.from_dict(json_round_trip(diff.to_dict())) == diff
    assert "max_tokens" in diff.describe()


def test_diff_removes_a_param_set_to_none() -> None:
    diff = ConfigDiff((ConfigChange(ChangeKind.SET_PARAM, 0.2, None, "temperature"),))
    assert "temperature" not in diff.apply(CONFIG).params


def test_diff_refuses_to_overwrite_a_changed_value() -> None:
    diff = ConfigDiff((ConfigChange(ChangeKind.EDIT_TEMPLATE, "something else", "new", "system"),))
    with pytest.raises(ConfigDiffConflictError):
        diff.apply(CONFIG)


def test_config_change_validates_its_shape() -> None:
    with pytest.raises(InvalidRubricError):
        ConfigChange(ChangeKind.SET_PARAM, 1, 2)
    with pytest.raises(InvalidRubricError):
        ConfigChange(ChangeKind.SET_MODEL, "a", "", None)


@given(
    st.dictionaries(st.sampled_from(["temperature", "max_tokens", "top_p"]), st.integers(0, 1000)),
    st.dictionaries(st.sampled_from(["system", "user", "few_shot"]), st.text(max_size=30)),
    st.sampled_from(["gpt-4o", "gpt-4o-mini"]),
)
def test_between_then_apply_reaches_any_target(params: dict, templates: dict, model: str) -> None:
    target = AgentConfig(model=model, params=params, templates=templates, tools=CONFIG.tools)
    assert ConfigDiff.between(CONFIG, target).apply(CONFIG) == target


def test_dimension_and_rubric_validation() -> None:
    spec = ScorerSpec(ScorerType.NO_ERROR)
    with pytest.raises(InvalidRubricError):
        Dimension("k", spec, weight=0)
    with pytest.raises(InvalidRubricError):
        Dimension("k", spec, threshold=1.5)
    with pytest.raises(InvalidRubricError):
        Rubric((Dimension("k", spec), Dimension("k", spec)))
    rubric = Rubric((Dimension("k", spec, "Key", "desc", 2.0, 0.5),), name="r")
    assert Rubric.from_dict(json_round_trip(rubric.to_dict())) == rubric


def test_objective_and_scan_config_round_trip() -> None:
    objective = Objective.from_dict(
        {
            "weights": {"quality": 1, "cost": 0.1, "latency": 0.05},
            "constraints": {
                "max_cost_usd_per_trace": 0.01,
                "max_p95_latency_ms": 2000,
                "min_dimension": {"k": 0.8},
            },
        }
    )
    assert Objective.from_dict(json_round_trip(objective.to_dict())) == objective
    config = ScanConfig(seed=7, strategies=(Strategy.PLAYBOOK,), budget_usd=1.5)
    assert ScanConfig.from_dict(json_round_trip(config.to_dict())) == config
    assert ScanConfig.from_dict({}) == ScanConfig()
    with pytest.raises(InvalidRubricError):
        ScanConfig(holdout_fraction=1.0)
    with pytest.raises(InvalidRubricError):
        ScanConfig(bootstrap_resamples=100)


def test_replay_result_parses_the_contract_response() -> None:
    body = {
        "output": "hi",
        "finish_reason": "stop",
        "model": "m",
        "usage": {"input_tokens": 3, "output_tokens": 4},
        "cost_usd": 0.5,
        "latency_ms": 10,
        "tool_calls": [{"name": "t", "arguments": {"x": 1}, "error": None}],
    }
    result = ReplayResult.from_dict(body)
    assert result.input_tokens == 3
    assert result.tool_calls == (ToolCall("t", {"x": 1}),)
    assert ReplayResult.from_dict(json_round_trip(result.to_dict())) == result
    assert ReplayResult.from_dict({"output": "only"}).status is TraceStatus.OK
    with pytest.raises(KeyError):
        ReplayResult.from_dict({})
    with pytest.raises(TypeError):
        ReplayResult.from_dict({"output": 3})


def test_replay_input_request_body_and_to_trace() -> None:
    trace = full_trace()
    replay_input = ReplayInput.from_trace(trace)
    assert ReplayInput.from_dict(json_round_trip(replay_input.to_dict())) == replay_input
    body = replay_input.request_body(CONFIG)
    assert body["input"] == [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello"}]
    assert body["config"] == CONFIG.to_dict()
    assert body["trace_id"] == "t1"
    replayed = ReplayResult(output="x", finish_reason="length", tool_calls=(ToolCall("t", {}, "e"),))
    as_trace = replayed.to_trace(replay_input, CONFIG)
    assert as_trace.trace_id == "t1"
    assert as_trace.session_id == "s1"
    assert as_trace.model == "gpt-4o"
    assert as_trace.expected_output == "x"
    assert as_trace.finish_reason == "length"


def test_report_types_round_trip() -> None:
    diff = ConfigDiff((ConfigChange(ChangeKind.SET_MODEL, "gpt-4o", "gpt-4o-mini"),))
    candidate = Candidate("c1", Strategy.MODEL_ROUTING, diff, "cheaper", ("k1",), None, True)
    experiment = ExperimentResult(
        "c1", "full", 10, 0.5, 0.6, 0.01, 0.005, 900, 700, {"k": (0.5, 0.7)}, True, True
    )
    validation = ValidationResult(
        "c1", 30, 12, 0.05, 0.01, 0.09, 0.04, 0.01, 0.005, 1000, 800, Verdict.RECOMMEND, "gain",
        ChangeInterval(-50.0, -52.5, -47.5), None, 0.01, 0.02,
        {"p_value": 0.3}, (ConstraintCheck("max_cost_usd_per_trace", True, 0.005, 0.01, "mean"),), ("k2",),
    )  # fmt: skip
    cluster = Cluster(
        "k1", "format", CauseCategory.FORMAT, (("dimension", "json"),), ("t1", "t2"), 0.1, 1.5, ("t1",)
    )
    report = ScanReport(
        config=ScanConfig(),
        baseline=CONFIG,
        n_traces=100,
        n_analysis=70,
        n_holdout=30,
        n_failing=20,
        baseline_objective=0.7,
        clusters=(cluster,),
        changes=(
            ProposedChange(candidate, Verdict.RECOMMEND, "why", ("t1",), experiment, validation, 0.05, -50.0),
        ),
        cost_ledger=(CostEntry("gpt-4o", 2, 10, 20, 0.01),),
        notes=("offline",),
    )
    assert ScanReport.from_dict(json_round_trip(report.to_dict())) == report
    assert cluster.size == 2
    assert cluster.to_dict()["size"] == 2
    assert experiment.objective_difference == pytest.approx(0.1)
    assert validation.cost_change_pct == pytest.approx(-50.0)
