"""User-supplied patterns run on RE2: linear in the text, and what RE2 cannot run is refused with
a reason that points at the offending value when the rubric is written."""

from __future__ import annotations

from typing import Any

import pytest

from spectral.engine.errors import ScorerParamsError
from spectral.engine.scoring import compile_scorer, score_traces, validate_scorer_params
from spectral.engine.scoring.json_schema import MAX_SCHEMA_DEPTH
from spectral.engine.scoring.patterns import (
    MAX_PATTERN_CHARS,
    MAX_PROGRAM_SIZE,
    UnsupportedPatternError,
    compile_user_pattern,
)
from spectral.engine.types import (
    Dimension,
    Objective,
    ObjectiveScales,
    Rubric,
    ScorerSpec,
    ScorerType,
    Trace,
)

# Each of these takes exponential time in Python's backtracking `re` on the subject below (2^40
# steps and more); under RE2 each is one linear pass. A regression to `re` hangs these tests.
CATASTROPHIC = [r"(a+)+$", r"(a|aa)*$", r"(a|a)*b", r"^(\w+\s?)*$", r"(.*a){12}x"]
SUBJECT = "a" * 40 + "!"


def trace(output: str) -> Trace:
    return Trace(trace_id="t1", input="q", output=output)


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_run_in_linear_time(pattern: str) -> None:
    scorer = compile_scorer(ScorerSpec(ScorerType.REGEX, {"pattern": pattern, "full_match": True}))
    score, reason = scorer(trace(SUBJECT * 50))
    assert (score, reason.split(" /")[0]) == (0.0, "does not match")


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        (r"(a)\1", "backreferences are not supported"),
        (r"(?P<q>['\"]).*(?P=q)", "not supported by the linear-time"),
        (r"foo(?=bar)", "look-ahead is not supported"),
        (r"foo(?!bar)", "look-ahead is not supported"),
        (r"(?<=\$)\d+", "look-behind is not supported"),
        (r"(?<!x)y", "look-behind is not supported"),
        (r"a++", "not supported by the linear-time"),
        (r"end\Z", "not supported by the linear-time"),
        (r"(x{1000}){1000}", "not supported by the linear-time"),
        (r"(\pL|\pN|\s){60}!", f"more than {MAX_PROGRAM_SIZE}"),
        ("(unclosed", "missing )"),
        ("a" * (MAX_PATTERN_CHARS + 1), f"longer than {MAX_PATTERN_CHARS} characters"),
    ],
)
def test_what_re2_cannot_run_is_refused_with_a_reason(pattern: str, hint: str) -> None:
    with pytest.raises(UnsupportedPatternError) as caught:
        compile_user_pattern(pattern)
    assert hint in str(caught.value)
    assert not caught.value.about_flags


def test_flags_i_m_s_and_nothing_else() -> None:
    assert compile_user_pattern("HELLO", "i").search("say hello") == "hello"
    assert compile_user_pattern("HELLO").search("say hello") is None
    assert compile_user_pattern("^b$", "m").search("a\nb\nc") == "b"
    assert compile_user_pattern("^b$").search("a\nb\nc") is None
    assert compile_user_pattern("a.b", "s").search("a\nb") == "a\nb"
    assert compile_user_pattern("a.b").search("a\nb") is None
    assert compile_user_pattern(r"\d{4}").fullmatch("2026") == "2026"
    assert compile_user_pattern(r"\d{4}").fullmatch("20261") is None
    with pytest.raises(UnsupportedPatternError) as caught:
        compile_user_pattern("a b", "x")
    assert caught.value.about_flags


@pytest.mark.parametrize(
    ("scorer_type", "params", "loc"),
    [
        ("regex", {"pattern": r"(\d)\1"}, ("params", "pattern")),
        ("regex", {"pattern": "a", "flags": "x"}, ("params", "flags")),
        ("no_refusal", {"patterns": ["sorry", "(?=no)"]}, ("params", "patterns", 1)),
        (
            "json_schema",
            {"schema": {"properties": {"id": {"type": "string", "pattern": "(?<=#)\\d+"}}}},
            ("params", "schema", "properties", "id", "pattern"),
        ),
        (
            "json_schema",
            {"schema": {"items": {"anyOf": [{"pattern": "(a)\\1"}]}}},
            ("params", "schema", "items", "anyOf", 0, "pattern"),
        ),
    ],
)
def test_every_user_pattern_is_checked_where_it_is_written(
    scorer_type: str, params: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    with pytest.raises(ScorerParamsError) as caught:
        validate_scorer_params(scorer_type, params)
    assert caught.value.loc == loc
    assert "regular expression" in caught.value.message or "flag" in caught.value.message


def test_schema_pattern_and_custom_refusals_match_linearly() -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    check = compile_scorer(ScorerSpec(ScorerType.JSON_SCHEMA, {"schema": schema}))
    assert check(trace('{"code": "' + SUBJECT + '"}'))[0] == 0.0
    assert check(trace('{"code": "aaaa"}'))[0] == 1.0
    refusal = compile_scorer(ScorerSpec(ScorerType.NO_REFUSAL, {"patterns": ["(a|aa)*!", "nope"]}))
    assert refusal(trace("NOPE, not today")) == (0.0, "refusal: 'NOPE'")
    assert refusal(trace(SUBJECT))[0] == 0.0
    assert refusal(trace("fine"))[0] == 1.0


def test_schemas_nested_too_deep_are_refused() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(MAX_SCHEMA_DEPTH + 1):
        schema = {"type": "array", "items": schema}
    with pytest.raises(ScorerParamsError) as caught:
        validate_scorer_params("json_schema", {"schema": schema})
    assert "nested deeper" in caught.value.message


@pytest.mark.parametrize("scorer_type", [ScorerType.JSON_VALID, ScorerType.JSON_SCHEMA])
def test_output_nested_thousands_deep_scores_zero_instead_of_crashing(scorer_type: ScorerType) -> None:
    params = {"schema": {"type": "array"}} if scorer_type is ScorerType.JSON_SCHEMA else {}
    score, reason = compile_scorer(ScorerSpec(scorer_type, params))(trace("[" * 100_000 + "]" * 100_000))
    assert score == 0.0
    assert "nested too deeply" in reason


def test_a_checkpoint_can_stop_scoring_between_traces() -> None:
    rubric = Rubric(
        name="r", dimensions=(Dimension(key="d", scorer=ScorerSpec(ScorerType.REGEX, {"pattern": "x"})),)
    )
    seen: list[int] = []

    class Stop(Exception):
        pass

    def checkpoint() -> None:
        if len(seen) == 3:
            raise Stop
        seen.append(1)

    traces = [Trace(trace_id=f"t{i}", input="q", output="x") for i in range(10)]
    with pytest.raises(Stop):
        score_traces(traces, rubric, Objective(), ObjectiveScales(), checkpoint=checkpoint)
    assert len(seen) == 3
    assert len(score_traces(traces, rubric, Objective(), ObjectiveScales())) == 10
