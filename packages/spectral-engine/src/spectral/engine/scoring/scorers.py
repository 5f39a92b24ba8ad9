"""One scorer per type of docs/scans.md.

`compile_scorer(spec)` validates the params and returns a `ScoreFn`: a function of a trace that
returns `(score, reason)` with score in [0, 1], or None when the trace cannot be scored on this
dimension (no expected output, no latency recorded, an `llm_judge` without a judge result). Compiling
once per rubric keeps the per-trace work to the check itself: regexes are compiled, value lists are
normalised, and no params are parsed per call.

Replayed outputs are scored by the same functions through `ReplayResult.to_trace`: `tool_success`
reads `tool_calls[].error`, `not_truncated` reads `finish_reason`, `no_error` reads `status`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from spectral.engine.errors import ScorerParamsError
from spectral.engine.scoring.json_schema import check_schema
from spectral.engine.scoring.params import ParamReader
from spectral.engine.scoring.patterns import UnsupportedPatternError, UserPattern, compile_user_pattern
from spectral.engine.scoring.text import (
    REFUSAL_PATTERNS,
    REFUSAL_WINDOW_CHARS,
    edit_similarity,
    normalise,
    parse_json,
    token_f1,
)
from spectral.engine.types import ScorerSpec, ScorerType, Trace, TraceStatus

ScoreFn = Callable[[Trace], tuple[float | None, str]]

# Finish reasons meaning "the model hit its token limit", across providers.
TRUNCATED_FINISH_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})

# Built in and reviewed, so Python's engine is fine here; patterns users write go through RE2.
_REFUSAL = re.compile("|".join(f"(?:{pattern})" for pattern in REFUSAL_PATTERNS), re.IGNORECASE)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _contains(params: ParamReader) -> ScoreFn:
    values, case_sensitive = _needle_values(params)
    require_all = params.choice("mode", ("all", "any"), "all") == "all"

    def score(trace: Trace) -> tuple[float, str]:
        haystack = trace.output if case_sensitive else trace.output.casefold()
        missing = [original for original, needle in values if needle not in haystack]
        if require_all:
            found = len(values) - len(missing)
            if not missing:
                return 1.0, "contains every expected value"
            return found / len(values), f"missing {', '.join(repr(_clip(v)) for v in missing)}"
        if len(missing) < len(values):
            return 1.0, "contains one of the expected values"
        return 0.0, "contains none of the expected values"

    return score


def _not_contains(params: ParamReader) -> ScoreFn:
    values, case_sensitive = _needle_values(params)

    def score(trace: Trace) -> tuple[float, str]:
        haystack = trace.output if case_sensitive else trace.output.casefold()
        for original, needle in values:
            if needle in haystack:
                return 0.0, f"contains forbidden {_clip(original)!r}"
        return 1.0, "contains no forbidden value"

    return score


def _needle_values(params: ParamReader) -> tuple[list[tuple[str, str]], bool]:
    """`value` (one string) or `values` (a list), paired with their case-normalised forms."""
    single = params.string("value")
    many = params.string_list("values")
    if single is not None and many:
        raise ScorerParamsError(params.loc("values"), "give either value or values, not both")
    originals = [single] if single is not None else list(many)
    if not originals or not all(originals):
        raise ScorerParamsError(params.loc("value"), "a non-empty value (or values) is required")
    case_sensitive = params.boolean("case_sensitive", False)
    return [(value, value if case_sensitive else value.casefold()) for value in originals], case_sensitive


def _regex(params: ParamReader) -> ScoreFn:
    pattern_text = params.required_string("pattern")
    flags = params.string("flags", "") or ""
    try:
        pattern = compile_user_pattern(pattern_text, flags)
    except UnsupportedPatternError as exc:
        raise ScorerParamsError(params.loc("flags" if exc.about_flags else "pattern"), str(exc)) from None
    full_match = params.boolean("full_match", False)
    should_match = params.boolean("should_match", True)
    matcher = pattern.fullmatch if full_match else pattern.search
    shown = _clip(pattern_text, 40)

    def score(trace: Trace) -> tuple[float, str]:
        matched = matcher(trace.output) is not None
        if matched == should_match:
            return 1.0, f"{'matches' if matched else 'does not match'} /{shown}/"
        return 0.0, f"{'matches' if matched else 'does not match'} /{shown}/ (expected the opposite)"

    return score


def _json_valid(params: ParamReader) -> ScoreFn:
    allow_code_fence = params.boolean("allow_code_fence", False)

    def score(trace: Trace) -> tuple[float, str]:
        _, error = parse_json(trace.output, allow_code_fence=allow_code_fence)
        if error is None:
            return 1.0, "valid JSON"
        return 0.0, f"invalid JSON: {error}"

    return score


def _json_schema(params: ParamReader) -> ScoreFn:
    schema = params.raw("schema")
    if schema is None:
        raise ScorerParamsError(params.loc("schema"), "is required")
    validator = check_schema(schema, params.loc("schema"))
    allow_code_fence = params.boolean("allow_code_fence", False)

    def score(trace: Trace) -> tuple[float, str]:
        value, error = parse_json(trace.output, allow_code_fence=allow_code_fence)
        if error is not None:
            return 0.0, f"invalid JSON: {error}"
        violation = validator.first_error(value)
        if violation is None:
            return 1.0, "matches the schema"
        return 0.0, f"schema violation at {violation}"

    return score


def _expected_reader(params: ParamReader) -> Callable[[Trace], str | None]:
    """The reference text: the `expected` param if given, else the trace's expected output."""
    fixed = params.string("expected")
    if fixed is not None:
        return lambda _trace: fixed
    return lambda trace: trace.expected_output


def _exact_match(params: ParamReader) -> ScoreFn:
    expected_of = _expected_reader(params)
    case_sensitive = params.boolean("case_sensitive", False)
    collapse_whitespace = params.boolean("normalize_whitespace", True)

    def score(trace: Trace) -> tuple[float | None, str]:
        expected = expected_of(trace)
        if expected is None:
            return None, "unscored: no expected output"
        same = normalise(
            trace.output, case_sensitive=case_sensitive, collapse_whitespace=collapse_whitespace
        ) == (normalise(expected, case_sensitive=case_sensitive, collapse_whitespace=collapse_whitespace))
        return (1.0, "matches the expected output") if same else (0.0, "differs from the expected output")

    return score


def _similarity(params: ParamReader) -> ScoreFn:
    expected_of = _expected_reader(params)
    method = params.choice("method", ("token_f1", "edit"), "token_f1")
    measure = token_f1 if method == "token_f1" else edit_similarity
    case_sensitive = params.boolean("case_sensitive", False)

    def score(trace: Trace) -> tuple[float | None, str]:
        expected = expected_of(trace)
        if expected is None:
            return None, "unscored: no expected output"
        left = normalise(trace.output, case_sensitive=case_sensitive, collapse_whitespace=True)
        right = normalise(expected, case_sensitive=case_sensitive, collapse_whitespace=True)
        value = measure(left, right)
        return value, f"{method} similarity {value:.2f} to the expected output"

    return score


def _length(params: ParamReader) -> ScoreFn:
    min_chars = params.number("min_chars", minimum=0)
    max_chars = params.number("max_chars", minimum=1)
    if min_chars is None and max_chars is None:
        raise ScorerParamsError(params.loc("max_chars"), "give min_chars, max_chars or both")
    if min_chars is not None and max_chars is not None and min_chars > max_chars:
        raise ScorerParamsError(params.loc("min_chars"), "must not exceed max_chars")

    # Outside the bounds the score falls off proportionally, so "a bit too long" ranks above
    # "ten times too long" when traces are compared.
    def score(trace: Trace) -> tuple[float, str]:
        length = len(trace.output)
        if min_chars is not None and length < min_chars:
            return length / min_chars, f"{length} chars, below the minimum {min_chars:g}"
        if max_chars is not None and length > max_chars:
            return max_chars / length, f"{length} chars, above the maximum {max_chars:g}"
        return 1.0, f"{length} chars, within bounds"

    return score


def _latency_max_ms(params: ParamReader) -> ScoreFn:
    limit = params.required_number("max_ms", minimum=0, exclusive_minimum=True)

    def score(trace: Trace) -> tuple[float | None, str]:
        latency = trace.latency_ms
        if latency is None:
            return None, "unscored: no latency recorded"
        if latency <= limit:
            return 1.0, f"{latency:.0f} ms within {limit:g} ms"
        return limit / latency, f"{latency:.0f} ms over the limit {limit:g} ms"

    return score


def _cost_max_usd(params: ParamReader) -> ScoreFn:
    limit = params.required_number("max_usd", minimum=0, exclusive_minimum=True)

    def score(trace: Trace) -> tuple[float | None, str]:
        cost = trace.cost_usd
        if cost is None:
            return None, "unscored: no cost recorded"
        if cost <= limit:
            return 1.0, f"${cost:.6f} within ${limit:g}"
        return limit / cost, f"${cost:.6f} over the limit ${limit:g}"

    return score


def _no_error(params: ParamReader) -> ScoreFn:
    def score(trace: Trace) -> tuple[float, str]:
        if trace.status is TraceStatus.ERROR:
            return 0.0, f"error {trace.error_type or 'unknown'}: {_clip(trace.error_message or '')}"
        # Failed tool spans are tool_success's to report, so that one cause fails one dimension.
        for span in trace.spans:
            if span.status is TraceStatus.ERROR and span.kind != "tool":
                return 0.0, f"span {span.name!r} failed: {span.error_type or 'unknown'}"
        return 1.0, "no error"

    return score


def _tool_success(params: ParamReader) -> ScoreFn:
    only_tools = frozenset(params.string_list("tools"))

    def score(trace: Trace) -> tuple[float, str]:
        calls = [call for call in trace.tool_calls if not only_tools or call.name in only_tools]
        failed_spans = [
            span
            for span in trace.spans
            if span.kind == "tool"
            and span.status is TraceStatus.ERROR
            and (not only_tools or span.name in only_tools)
        ]
        if not calls and not failed_spans:
            return 1.0, "no tool calls"
        failures = [call for call in calls if call.error is not None]
        if not failures and not failed_spans:
            return 1.0, f"{len(calls)} tool call(s) succeeded"
        if failures:
            first = failures[0]
            reason = f"tool {first.name!r} failed: {_clip(first.error or '')}"
        else:
            reason = (
                f"tool span {failed_spans[0].name!r} failed: {_clip(failed_spans[0].error_message or '')}"
            )
        total = max(len(calls), len(failed_spans))
        succeeded = total - max(len(failures), len(failed_spans))
        return succeeded / total, reason

    return score


def _not_truncated(params: ParamReader) -> ScoreFn:
    def score(trace: Trace) -> tuple[float | None, str]:
        reason = trace.finish_reason
        if reason is None:
            return None, "unscored: no finish reason recorded"
        if reason in TRUNCATED_FINISH_REASONS:
            return 0.0, f"truncated (finish reason {reason!r}, {trace.output_tokens or '?'} output tokens)"
        return 1.0, f"finish reason {reason!r}"

    return score


def _no_refusal(params: ParamReader) -> ScoreFn:
    custom: list[UserPattern] = []
    for index, text in enumerate(params.string_list("patterns")):
        try:
            custom.append(compile_user_pattern(text, "i"))
        except UnsupportedPatternError as exc:
            raise ScorerParamsError((*params.loc("patterns"), index), str(exc)) from None
    window = int(params.number("window_chars", REFUSAL_WINDOW_CHARS, minimum=1) or REFUSAL_WINDOW_CHARS)

    def score(trace: Trace) -> tuple[float, str]:
        head = trace.output[:window]
        builtin = _REFUSAL.search(head)
        found = builtin.group(0) if builtin is not None else _first_found(custom, head)
        if found is None:
            return 1.0, "no refusal"
        return 0.0, f"refusal: {_clip(found)!r}"

    return score


def _first_found(patterns: Sequence[UserPattern], text: str) -> str | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found is not None:
            return found
    return None


def _feedback(params: ParamReader) -> ScoreFn:
    aggregate = params.choice("aggregate", ("mean", "min", "last"), "mean")

    def score(trace: Trace) -> tuple[float | None, str]:
        values = trace.feedback
        if not values:
            return None, "unscored: no feedback"
        if aggregate == "mean":
            value = sum(values) / len(values)
        elif aggregate == "min":
            value = min(values)
        else:
            value = values[-1]
        value = min(1.0, max(0.0, value))
        return value, f"{aggregate} of {len(values)} feedback score(s): {value:.2f}"

    return score


def _llm_judge(params: ParamReader) -> ScoreFn:
    # The judging itself is async and goes through the caller's Judge (scoring.judge_traces);
    # here only the params are checked, and a trace without a judge result stays unscored.
    params.required_string("criteria")
    params.string("model")

    def score(trace: Trace) -> tuple[None, str]:
        return None, "unscored: no LLM judge result"

    return score


_BUILDERS: Mapping[ScorerType, Callable[[ParamReader], ScoreFn]] = {
    ScorerType.CONTAINS: _contains,
    ScorerType.NOT_CONTAINS: _not_contains,
    ScorerType.REGEX: _regex,
    ScorerType.JSON_VALID: _json_valid,
    ScorerType.JSON_SCHEMA: _json_schema,
    ScorerType.EXACT_MATCH: _exact_match,
    ScorerType.SIMILARITY: _similarity,
    ScorerType.LENGTH: _length,
    ScorerType.LATENCY_MAX_MS: _latency_max_ms,
    ScorerType.COST_MAX_USD: _cost_max_usd,
    ScorerType.NO_ERROR: _no_error,
    ScorerType.TOOL_SUCCESS: _tool_success,
    ScorerType.NOT_TRUNCATED: _not_truncated,
    ScorerType.NO_REFUSAL: _no_refusal,
    ScorerType.FEEDBACK: _feedback,
    ScorerType.LLM_JUDGE: _llm_judge,
}


def compile_scorer(spec: ScorerSpec) -> ScoreFn:
    """Validate the spec's params and build its scoring function."""
    reader = ParamReader(spec.params)
    score = _BUILDERS[spec.type](reader)
    reader.finish()
    return score


def validate_scorer_params(scorer_type: str, params: Mapping[str, Any]) -> None:
    """Check a scorer spec as the API receives it; raises `ScorerParamsError` (loc + message)."""
    try:
        parsed_type = ScorerType(scorer_type)
    except ValueError:
        known = ", ".join(t.value for t in ScorerType)
        raise ScorerParamsError(("type",), f"unknown scorer type {scorer_type!r}; known: {known}") from None
    if not isinstance(params, Mapping):
        raise ScorerParamsError(("params",), "must be an object")
    compile_scorer(ScorerSpec(parsed_type, params))
