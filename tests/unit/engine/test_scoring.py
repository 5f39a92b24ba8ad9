"""Scorers, params validation, rubric scoring, objective and LLM-judge plumbing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral.engine.errors import BudgetExhausted, InvalidRubricError, ScorerParamsError
from spectral.engine.protocols import JudgeScore
from spectral.engine.scoring import (
    check_constraints,
    compile_scorer,
    judge_traces,
    objective_scales_from,
    score_trace,
    score_traces,
    validate_scorer_params,
)
from spectral.engine.scoring.json_schema import check_schema
from spectral.engine.scoring.text import edit_similarity, levenshtein, token_f1
from spectral.engine.types import (
    Constraints,
    Dimension,
    Objective,
    ObjectiveScales,
    ObjectiveWeights,
    Rubric,
    ScorerSpec,
    ScorerType,
    Span,
    ToolCall,
    Trace,
    TraceStatus,
)


def trace(output: str = "hello world", **fields: Any) -> Trace:
    return Trace(trace_id=fields.pop("trace_id", "t"), input="q", output=output, **fields)


def score(
    scorer_type: ScorerType, params: dict[str, Any] | None = None, **trace_fields: Any
) -> tuple[Any, str]:
    output = trace_fields.pop("output", "hello world")
    return compile_scorer(ScorerSpec(scorer_type, params or {}))(trace(output, **trace_fields))


# ---------------------------------------------------------------------------------------------- scorers


def test_contains_all_gives_partial_credit_and_names_the_missing() -> None:
    assert score(ScorerType.CONTAINS, {"value": "WORLD"})[0] == 1.0
    value, reason = score(ScorerType.CONTAINS, {"values": ["hello", "moon"]})
    assert value == 0.5
    assert "moon" in reason
    assert score(ScorerType.CONTAINS, {"values": ["moon", "hello"], "mode": "any"})[0] == 1.0
    assert score(ScorerType.CONTAINS, {"value": "WORLD", "case_sensitive": True})[0] == 0.0


def test_not_contains() -> None:
    assert score(ScorerType.NOT_CONTAINS, {"values": ["moon"]}) == (1.0, "contains no forbidden value")
    value, reason = score(ScorerType.NOT_CONTAINS, {"values": ["moon", "World"]})
    assert value == 0.0
    assert "World" in reason


def test_regex_modes() -> None:
    assert score(ScorerType.REGEX, {"pattern": r"w\w+"})[0] == 1.0
    assert score(ScorerType.REGEX, {"pattern": r"w\w+", "full_match": True})[0] == 0.0
    assert score(ScorerType.REGEX, {"pattern": "HELLO", "flags": "i"})[0] == 1.0
    assert score(ScorerType.REGEX, {"pattern": "hello", "should_match": False})[0] == 0.0


def test_json_valid_and_code_fences() -> None:
    assert score(ScorerType.JSON_VALID, output='{"a": 1}')[0] == 1.0
    value, reason = score(ScorerType.JSON_VALID, output="Sure! {")
    assert value == 0.0
    assert reason.startswith("invalid JSON")
    fenced = '```json\n{"a": 1}\n```'
    assert score(ScorerType.JSON_VALID, output=fenced)[0] == 0.0
    assert score(ScorerType.JSON_VALID, {"allow_code_fence": True}, output=fenced)[0] == 1.0


SCHEMA = {
    "type": "object",
    "required": ["answer", "category"],
    "additionalProperties": False,
    "properties": {
        "answer": {"type": "string", "minLength": 2, "pattern": "^[A-Z]"},
        "category": {"enum": ["a", "b"]},
        "score": {"type": "number", "minimum": 0, "exclusiveMaximum": 10},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "id": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
}


@pytest.mark.parametrize(
    ("output", "expected", "fragment"),
    [
        ('{"answer": "Yes", "category": "a", "score": 3, "tags": ["x"], "id": null}', 1.0, "matches"),
        ('{"answer": "Yes"}', 0.0, "missing required property 'category'"),
        ('{"answer": "Yes", "category": "c"}', 0.0, "/category"),
        ('{"answer": "yes", "category": "a"}', 0.0, "pattern"),
        ('{"answer": "Yes", "category": "a", "score": 10}', 0.0, "/score"),
        ('{"answer": "Yes", "category": "a", "tags": ["x", "y", "z"]}', 0.0, "more than 2 items"),
        ('{"answer": "Yes", "category": "a", "tags": [1]}', 0.0, "/tags/0"),
        ('{"answer": "Yes", "category": "a", "extra": 1}', 0.0, "unexpected property 'extra'"),
        ('{"answer": "Yes", "category": "a", "id": "x"}', 0.0, "anyOf"),
        ("[1]", 0.0, "expected object, got array"),
        ("nope", 0.0, "invalid JSON"),
    ],
)
def test_json_schema(output: str, expected: float, fragment: str) -> None:
    value, reason = score(ScorerType.JSON_SCHEMA, {"schema": SCHEMA}, output=output)
    assert value == expected
    assert fragment in reason


def test_json_schema_booleans_are_not_numbers() -> None:
    validator = check_schema({"type": "integer", "enum": [1]}, ("schema",))
    assert validator.first_error(True) is not None
    assert validator.first_error(1) is None
    assert check_schema({"type": "number"}, ("schema",)).first_error(2) is None


def test_exact_match_and_similarity_need_an_expected_output() -> None:
    assert score(ScorerType.EXACT_MATCH, output="Hello  World", expected_output="hello world")[0] == 1.0
    assert score(ScorerType.EXACT_MATCH, {"case_sensitive": True}, expected_output="hello World")[0] == 0.0
    assert score(ScorerType.EXACT_MATCH) == (None, "unscored: no expected output")
    assert score(ScorerType.EXACT_MATCH, {"expected": "hello world"})[0] == 1.0
    assert score(ScorerType.SIMILARITY)[0] is None
    value, reason = score(ScorerType.SIMILARITY, expected_output="hello there world")
    assert value == pytest.approx(0.8)
    assert "token_f1" in reason
    assert score(ScorerType.SIMILARITY, {"method": "edit"}, expected_output="hello world")[0] == 1.0


def test_length_falls_off_outside_bounds() -> None:
    assert score(ScorerType.LENGTH, {"min_chars": 5, "max_chars": 20})[0] == 1.0
    assert score(ScorerType.LENGTH, {"min_chars": 22})[0] == pytest.approx(11 / 22)
    value, reason = score(ScorerType.LENGTH, {"max_chars": 5})
    assert value == pytest.approx(5 / 11)
    assert "above the maximum" in reason


def test_latency_and_cost_limits() -> None:
    assert score(ScorerType.LATENCY_MAX_MS, {"max_ms": 100}, latency_ms=50)[0] == 1.0
    assert score(ScorerType.LATENCY_MAX_MS, {"max_ms": 100}, latency_ms=400)[0] == 0.25
    assert score(ScorerType.LATENCY_MAX_MS, {"max_ms": 100})[0] is None
    assert score(ScorerType.COST_MAX_USD, {"max_usd": 0.01}, cost_usd=0.02)[0] == 0.5
    assert score(ScorerType.COST_MAX_USD, {"max_usd": 0.01})[0] is None


def test_no_error_reads_status_and_non_tool_spans() -> None:
    assert score(ScorerType.NO_ERROR)[0] == 1.0
    value, reason = score(
        ScorerType.NO_ERROR, status=TraceStatus.ERROR, error_type="Timeout", error_message="slow"
    )
    assert value == 0.0
    assert "Timeout" in reason
    llm_failed = (Span("s", "chat", kind="llm", status=TraceStatus.ERROR, error_type="RateLimit"),)
    assert score(ScorerType.NO_ERROR, spans=llm_failed)[0] == 0.0
    tool_failed = (Span("s", "lookup", kind="tool", status=TraceStatus.ERROR),)
    assert score(ScorerType.NO_ERROR, spans=tool_failed)[0] == 1.0


def test_tool_success_reads_tool_call_errors_and_tool_spans() -> None:
    assert score(ScorerType.TOOL_SUCCESS) == (1.0, "no tool calls")
    calls = (ToolCall("lookup", {"id": "#1"}, "invalid id"), ToolCall("search", {}))
    value, reason = score(ScorerType.TOOL_SUCCESS, tool_calls=calls)
    assert value == 0.5
    assert "lookup" in reason
    assert "invalid id" in reason
    assert score(ScorerType.TOOL_SUCCESS, {"tools": ["search"]}, tool_calls=calls)[0] == 1.0
    failed_span = (Span("s", "lookup", kind="tool", status=TraceStatus.ERROR, error_message="boom"),)
    assert score(ScorerType.TOOL_SUCCESS, spans=failed_span)[0] == 0.0


def test_not_truncated_reads_finish_reason() -> None:
    assert score(ScorerType.NOT_TRUNCATED, finish_reason="stop")[0] == 1.0
    assert score(ScorerType.NOT_TRUNCATED, finish_reason="length", output_tokens=256)[0] == 0.0
    assert score(ScorerType.NOT_TRUNCATED, finish_reason="max_tokens")[0] == 0.0
    assert score(ScorerType.NOT_TRUNCATED)[0] is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("I'm sorry, but I can't help with that request.", 0.0),
        ('{"answer": "I cannot assist with this."}', 0.0),
        ("As an AI language model, I have no opinion.", 0.0),
        ("Your order ships tomorrow.", 1.0),
        ("Your order ships tomorrow. " * 20 + "I cannot help with that.", 1.0),
    ],
)
def test_no_refusal(output: str, expected: float) -> None:
    assert score(ScorerType.NO_REFUSAL, output=output)[0] == expected


def test_no_refusal_custom_patterns() -> None:
    assert score(ScorerType.NO_REFUSAL, {"patterns": ["hello"]})[0] == 0.0


def test_feedback_aggregates() -> None:
    assert score(ScorerType.FEEDBACK)[0] is None
    assert score(ScorerType.FEEDBACK, feedback=(0.0, 1.0))[0] == 0.5
    assert score(ScorerType.FEEDBACK, {"aggregate": "min"}, feedback=(0.4, 1.0))[0] == 0.4
    assert score(ScorerType.FEEDBACK, {"aggregate": "last"}, feedback=(0.4, 1.0))[0] == 1.0


def test_llm_judge_without_result_is_unscored() -> None:
    assert score(ScorerType.LLM_JUDGE, {"criteria": "polite"})[0] is None


# -------------------------------------------------------------------------------------- params validation


@pytest.mark.parametrize(
    ("scorer_type", "params", "loc"),
    [
        ("nope", {}, ("type",)),
        ("contains", {}, ("params", "value")),
        ("contains", {"value": "a", "values": ["b"]}, ("params", "values")),
        ("contains", {"values": ["a", ""]}, ("params", "values", 1)),
        ("contains", {"value": "a", "mode": "some"}, ("params", "mode")),
        ("contains", {"value": "a", "case_sensitive": "yes"}, ("params", "case_sensitive")),
        ("regex", {}, ("params", "pattern")),
        ("regex", {"pattern": "("}, ("params", "pattern")),
        ("regex", {"pattern": "a", "flags": "q"}, ("params", "flags")),
        ("json_schema", {}, ("params", "schema")),
        ("json_schema", {"schema": {"type": "thing"}}, ("params", "schema", "type")),
        (
            "json_schema",
            {"schema": {"properties": {"a": {"oneOf": []}}}},
            ("params", "schema", "properties", "a", "oneOf"),
        ),
        ("json_schema", {"schema": {"minLength": -1}}, ("params", "schema", "minLength")),
        ("json_schema", {"schema": {"anyOf": [{"type": 1}]}}, ("params", "schema", "anyOf", 0, "type")),
        ("similarity", {"method": "cosine"}, ("params", "method")),
        ("length", {}, ("params", "max_chars")),
        ("length", {"min_chars": 10, "max_chars": 5}, ("params", "min_chars")),
        ("length", {"max_chars": True}, ("params", "max_chars")),
        ("latency_max_ms", {}, ("params", "max_ms")),
        ("latency_max_ms", {"max_ms": 0}, ("params", "max_ms")),
        ("cost_max_usd", {"max_usd": float("nan")}, ("params", "max_usd")),
        ("no_refusal", {"patterns": ["ok", "("]}, ("params", "patterns", 1)),
        ("feedback", {"aggregate": "median"}, ("params", "aggregate")),
        ("llm_judge", {}, ("params", "criteria")),
        ("no_error", {"strict": True}, ("params", "strict")),
    ],
)
def test_invalid_params_point_at_the_value(scorer_type: str, params: dict[str, Any], loc: tuple) -> None:
    with pytest.raises(ScorerParamsError) as caught:
        validate_scorer_params(scorer_type, params)
    assert caught.value.loc == loc
    assert caught.value.message


def test_every_scorer_type_has_a_valid_example() -> None:
    examples: dict[ScorerType, dict[str, Any]] = {
        ScorerType.CONTAINS: {"value": "x"},
        ScorerType.NOT_CONTAINS: {"value": "x"},
        ScorerType.REGEX: {"pattern": "x"},
        ScorerType.JSON_SCHEMA: {"schema": SCHEMA},
        ScorerType.LENGTH: {"max_chars": 10},
        ScorerType.LATENCY_MAX_MS: {"max_ms": 10},
        ScorerType.COST_MAX_USD: {"max_usd": 0.1},
        ScorerType.LLM_JUDGE: {"criteria": "kind", "model": "gpt-4o"},
    }
    for scorer_type in ScorerType:
        validate_scorer_params(scorer_type.value, examples.get(scorer_type, {}))


# ---------------------------------------------------------------------------------------- properties

ANY_TEXT = st.text(max_size=200)
SCORER_CASES = [
    (ScorerType.CONTAINS, {"values": ["a", "b"]}),
    (ScorerType.NOT_CONTAINS, {"value": "a"}),
    (ScorerType.REGEX, {"pattern": "[0-9]+"}),
    (ScorerType.JSON_VALID, {}),
    (ScorerType.JSON_SCHEMA, {"schema": SCHEMA}),
    (ScorerType.EXACT_MATCH, {}),
    (ScorerType.SIMILARITY, {"method": "edit"}),
    (ScorerType.SIMILARITY, {}),
    (ScorerType.LENGTH, {"min_chars": 3, "max_chars": 50}),
    (ScorerType.LATENCY_MAX_MS, {"max_ms": 1000}),
    (ScorerType.COST_MAX_USD, {"max_usd": 0.01}),
    (ScorerType.NO_ERROR, {}),
    (ScorerType.TOOL_SUCCESS, {}),
    (ScorerType.NOT_TRUNCATED, {}),
    (ScorerType.NO_REFUSAL, {}),
    (ScorerType.FEEDBACK, {}),
    (ScorerType.LLM_JUDGE, {"criteria": "x"}),
]
COMPILED = [compile_scorer(ScorerSpec(kind, params)) for kind, params in SCORER_CASES]


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    return Trace(
        trace_id="t",
        input="q",
        output=draw(ANY_TEXT),
        expected_output=draw(st.none() | ANY_TEXT),
        status=draw(st.sampled_from(TraceStatus)),
        finish_reason=draw(st.none() | st.sampled_from(["stop", "length", "tool_calls"])),
        latency_ms=draw(st.none() | st.floats(0, 1e6)),
        cost_usd=draw(st.none() | st.floats(0, 10)),
        tool_calls=tuple(
            ToolCall(name, {}, error)
            for name, error in draw(
                st.lists(st.tuples(st.sampled_from(["a", "b"]), st.none() | ANY_TEXT), max_size=3)
            )
        ),
        feedback=tuple(draw(st.lists(st.floats(0, 1), max_size=3))),
    )


@settings(max_examples=150, deadline=None)
@given(traces())
def test_every_scorer_is_bounded_and_explains_itself(sample: Trace) -> None:
    for score_fn in COMPILED:
        value, reason = score_fn(sample)
        assert value is None or 0.0 <= value <= 1.0
        assert isinstance(reason, str)
        assert reason
        if value is None:
            assert reason.startswith("unscored")


def reference_levenshtein(left: str, right: str) -> int:
    previous = list(range(len(right) + 1))
    for i, a in enumerate(left, 1):
        current = [i]
        for j, b in enumerate(right, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcd", max_size=80), st.text(alphabet="abcd", max_size=80))
def test_bit_parallel_levenshtein_matches_the_dynamic_programme(left: str, right: str) -> None:
    assert levenshtein(left, right) == reference_levenshtein(left, right)
    assert 0.0 <= edit_similarity(left, right) <= 1.0


@given(ANY_TEXT, ANY_TEXT)
def test_token_f1_is_symmetric_and_bounded(left: str, right: str) -> None:
    assert token_f1(left, right) == pytest.approx(token_f1(right, left))
    assert 0.0 <= token_f1(left, right) <= 1.0


# ------------------------------------------------------------------------------------ rubric and objective

RUBRIC = Rubric(
    (
        Dimension("json", ScorerSpec(ScorerType.JSON_VALID), weight=3.0),
        Dimension("fast", ScorerSpec(ScorerType.LATENCY_MAX_MS, {"max_ms": 1000}), threshold=0.9),
        Dimension("judge", ScorerSpec(ScorerType.LLM_JUDGE, {"criteria": "polite"})),
    )
)
OBJECTIVE = Objective(
    weights=ObjectiveWeights(quality=1.0, cost=0.1, latency=0.2),
    constraints=Constraints(
        max_cost_usd_per_trace=0.01, max_p95_latency_ms=1500, min_dimension={"json": 1.0}
    ),
)
TRACES = [
    trace('{"a": 1}', trace_id="ok", latency_ms=500, cost_usd=0.002, session_id="s1"),
    trace("nope", trace_id="bad", latency_ms=2000, cost_usd=0.02, session_id="s1"),
    trace('{"b": 2}', trace_id="unknown"),
]


def test_objective_scales_are_baseline_medians() -> None:
    scales = objective_scales_from(TRACES)
    assert scales.cost_ref_usd == pytest.approx(0.011)
    assert scales.latency_ref_ms == pytest.approx(1250)
    assert objective_scales_from([]) == ObjectiveScales()


def test_score_traces_quality_objective_and_violations() -> None:
    scales = ObjectiveScales(cost_ref_usd=0.01, latency_ref_ms=1000)
    table = score_traces(TRACES, RUBRIC, OBJECTIVE, scales)
    assert table.dimension_keys == ("json", "fast", "judge")
    # ok: both scored dimensions pass, the judge is unscored and left out of the weighted mean.
    assert table.quality[0] == 1.0
    assert table.objective[0] == pytest.approx(1.0 - 0.1 * 0.2 - 0.2 * 0.5)
    # bad: json 0 (weight 3), fast 0.5 (weight 1) -> 0.5 / 4.
    assert table.quality[1] == pytest.approx(0.125)
    assert table.violations[1] == ("max_cost_usd_per_trace", "max_p95_latency_ms", "min_dimension.json")
    assert table.violations[0] == ()
    # unknown cost and latency contribute nothing; latency unscored.
    assert table.quality[2] == 1.0
    assert table.objective[2] == 1.0
    assert table.failed.tolist() == [False, True, False]
    assert table.unscored_dimensions() == ("judge",)
    assert table.session_keys == ("s1", "s1", "unknown")
    detail = table.trace_score(1)
    assert detail.failed
    assert detail.failed_dimensions == ("json", "fast")
    assert detail.dimensions[2].score is None
    assert detail.dimensions[2].passed is None


def test_score_trace_matches_the_table_row() -> None:
    scales = ObjectiveScales()
    assert score_trace(TRACES[1], RUBRIC, OBJECTIVE, scales) == score_traces(
        TRACES, RUBRIC, OBJECTIVE, scales
    ).trace_score(1)


def test_unknown_min_dimension_is_rejected() -> None:
    objective = Objective(constraints=Constraints(min_dimension={"missing": 0.5}))
    with pytest.raises(InvalidRubricError):
        score_traces(TRACES, RUBRIC, objective, ObjectiveScales())


def test_no_scored_dimension_means_no_objective() -> None:
    rubric = Rubric((Dimension("judge", ScorerSpec(ScorerType.LLM_JUDGE, {"criteria": "x"})),))
    table = score_traces(TRACES[:1], rubric, Objective(), ObjectiveScales())
    assert math.isnan(table.quality[0])
    assert math.isnan(table.objective[0])
    assert table.trace_score(0).objective is None


def test_check_constraints_on_a_run() -> None:
    checks = check_constraints(
        OBJECTIVE,
        cost_usd=np.array([0.002, 0.004, np.nan]),
        latency_ms=np.array([100.0, 2000.0, 300.0]),
        dimension_scores={"json": np.array([1.0, 1.0, 0.0])},
    )
    by_name = {check.name: check for check in checks}
    assert by_name["max_cost_usd_per_trace"].passed
    assert by_name["max_cost_usd_per_trace"].value == pytest.approx(0.003)
    assert not by_name["max_p95_latency_ms"].passed
    assert not by_name["min_dimension.json"].passed


class FakeJudge:
    def __init__(self, exhaust_after: int | None = None) -> None:
        self.calls = 0
        self.exhaust_after = exhaust_after

    async def judge(self, dimension: Dimension, trace: Trace) -> JudgeScore | None:
        self.calls += 1
        if self.exhaust_after is not None and self.calls > self.exhaust_after:
            raise BudgetExhausted("out of budget")
        if trace.trace_id == "unknown":
            return None
        return JudgeScore(0.25, f"judged {trace.trace_id}")


async def test_judge_results_feed_scoring() -> None:
    run = await judge_traces(TRACES, RUBRIC, FakeJudge(), concurrency=2)
    assert run.requested == 3
    assert run.declined == 1
    assert not run.budget_exhausted
    table = score_traces(TRACES, RUBRIC, OBJECTIVE, ObjectiveScales(), judgments=run.judgments)
    assert table.column("judge")[0] == 0.25
    assert table.reasons[0][2] == "judged ok"
    assert math.isnan(table.column("judge")[2])


async def test_judging_stops_when_the_budget_is_exhausted() -> None:
    run = await judge_traces(TRACES, RUBRIC, FakeJudge(exhaust_after=1), concurrency=1)
    assert run.budget_exhausted
    assert list(run.judgments) == [("ok", "judge")]


async def test_without_a_judge_nothing_is_requested() -> None:
    run = await judge_traces(TRACES, RUBRIC, None)
    assert run.requested == 0
    assert run.judgments == {}
