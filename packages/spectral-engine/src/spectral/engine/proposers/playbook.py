"""The deterministic playbook: one well-known fix per cause, built from the scan's own evidence.

Every instruction is written from what the rubric and the traces say — the dimension's regex or
JSON schema, the tool's error messages and the arguments its successful calls pass, the inputs the
agent refused — never a fixed phrase that some agent happens to recognise.

- format -> an explicit output-format instruction from the failing dimension's scorer params;
- truncation -> `max_tokens` raised to cover the observed need;
- tool_error on tool T -> argument guidance from T's error messages and successful calls;
- refusal -> a scope instruction naming what the refused requests were about;
- cost / latency -> handled by `model_routing`, restricted to the cluster's model.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spectral.engine.clustering import normalise_text, text_terms
from spectral.engine.proposers.base import (
    Edit,
    EditKind,
    Estimate,
    Proposal,
    ProposalContext,
    make_proposal,
)
from spectral.engine.proposers.model_routing import propose_model_move
from spectral.engine.scoring import TRUNCATED_FINISH_REASONS
from spectral.engine.types import CauseCategory, Cluster, Dimension, ScorerType, Strategy, ToolCall, Trace

# Room above the observed p95 completion length, for answers longer than any seen so far.
TRUNCATION_MARGIN = 1.5
_TOKEN_ROUNDING = 64
_MAX_ERROR_EXAMPLES = 2
_SCOPE_TERMS = 6
_TRANSIENT = re.compile(
    r"time[ds]? ?out|unavailable|\b50[234]\b|rate.?limit|too many requests|connection (?:reset|refused)",
    re.IGNORECASE,
)


def propose(context: ProposalContext) -> list[Proposal]:
    proposals: list[Proposal] = []
    for cluster in context.clusters:
        proposal = _propose_for(context, cluster)
        if proposal is not None:
            proposals.append(proposal)
    return proposals


def _propose_for(context: ProposalContext, cluster: Cluster) -> Proposal | None:
    if cluster.cause is CauseCategory.FORMAT:
        return _format(context, cluster)
    if cluster.cause is CauseCategory.TRUNCATION:
        return _truncation(context, cluster)
    if cluster.cause is CauseCategory.TOOL_ERROR:
        return _tool_guidance(context, cluster)
    if cluster.cause is CauseCategory.REFUSAL:
        return _scope(context, cluster)
    if cluster.cause in (CauseCategory.COST, CauseCategory.LATENCY):
        model = dict(cluster.signature).get("model")
        if model == context.baseline.model:
            return propose_model_move(context, cluster, Strategy.PLAYBOOK)
    return None


def _cluster_traces(context: ProposalContext, cluster: Cluster) -> list[Trace]:
    return [context.traces[row] for row in context.rows(cluster.trace_ids)]


def _instruction(context: ProposalContext, cluster: Cluster, text: str, rationale: str) -> Proposal | None:
    edit = Edit(EditKind.APPEND_TO_TEMPLATE, text, context.instruction_template)
    return make_proposal(context.baseline, Strategy.PLAYBOOK, [edit], rationale, [cluster.cluster_id])


# --------------------------------------------------------------------------------------------------
# format


def _format(context: ProposalContext, cluster: Cluster) -> Proposal | None:
    dimension = _failing_dimension(context, cluster)
    if dimension is None:
        return None
    instruction = format_instruction(dimension)
    if instruction is None:
        return None
    rationale = (
        f"{cluster.size} traces ({cluster.share:.1%} of traffic) fail '{dimension.key}' because the answer "
        f"is not in the required format. The template never states that format; this adds an explicit "
        f"instruction built from the rubric's {dimension.scorer.type.value} check."
    )
    return _instruction(context, cluster, instruction, rationale)


def _failing_dimension(context: ProposalContext, cluster: Cluster) -> Dimension | None:
    key = dict(cluster.signature).get("dimension")
    try:
        return context.rubric.dimension(key) if key else None
    except KeyError:
        return None


def format_instruction(dimension: Dimension) -> str | None:
    """An output-format instruction stating what the dimension's scorer checks."""
    params = dimension.scorer.params
    scorer = dimension.scorer.type
    if scorer is ScorerType.JSON_SCHEMA:
        schema = params.get("schema")
        if not isinstance(schema, Mapping):
            return None
        fields, complete = _describe_schema(schema)
        # Prompts are paid for on every call: the schema is spelled out only when words cannot say it.
        spelled = (
            ""
            if complete
            else f" It must validate against this JSON Schema: {json.dumps(schema, sort_keys=True)}"
        )
        return f"Reply with a single JSON object and nothing outside it (no prose, no code fences){fields}.{spelled}"
    if scorer is ScorerType.JSON_VALID:
        fence = "" if params.get("allow_code_fence") else " and no code fences"
        return f"Reply with valid JSON only, with no text before or after it{fence}."
    if scorer is ScorerType.REGEX:
        pattern = params.get("pattern")
        if not isinstance(pattern, str):
            return None
        if params.get("should_match", True) is False:
            return f"The reply must never match the regular expression /{pattern}/."
        whole = "The whole reply" if params.get("full_match") else "The reply"
        return f"{whole} must match the regular expression /{pattern}/."
    if scorer is ScorerType.LENGTH:
        bounds = [
            f"at least {params['min_chars']} characters" if params.get("min_chars") is not None else "",
            f"at most {params['max_chars']} characters" if params.get("max_chars") is not None else "",
        ]
        stated = " and ".join(bound for bound in bounds if bound)
        return f"Keep the reply {stated} long." if stated else None
    return None


def _describe_schema(schema: Mapping[str, Any]) -> tuple[str, bool]:
    """The schema's top-level keys in words, and whether the words say everything the schema checks
    (flat properties with a type or an enum)."""
    properties = schema.get("properties")
    if schema.get("type", "object") != "object" or not isinstance(properties, Mapping) or not properties:
        return "", False
    required = [str(name) for name in schema.get("required") or ()]
    simple = {"type", "enum", "minLength", "description", "title"}
    complete = set(schema) <= {
        "type",
        "required",
        "properties",
        "additionalProperties",
        "title",
        "description",
    }
    fields = []
    for name in [*required, *sorted(set(properties) - set(required))]:
        spec = properties.get(name) if isinstance(properties.get(name), Mapping) else {}
        complete = complete and isinstance(spec, Mapping) and set(spec) <= simple
        described = f'"{name}"'
        if isinstance(spec, Mapping) and "enum" in spec:
            described += " (one of " + ", ".join(str(value) for value in spec["enum"]) + ")"
        elif isinstance(spec, Mapping) and isinstance(spec.get("type"), str):
            described += f" ({spec['type']})"
        fields.append(described + ("" if name in required else ", optional"))
    return ", with the keys " + ", ".join(fields), complete


# --------------------------------------------------------------------------------------------------
# truncation


def _truncation(context: ProposalContext, cluster: Cluster) -> Proposal | None:
    completion = np.array(
        [t.output_tokens for t in context.traces if t.output_tokens is not None], dtype=np.float64
    )
    current = context.baseline.params.get("max_tokens")
    truncated = [t for t in _cluster_traces(context, cluster) if t.finish_reason in TRUNCATED_FINISH_REASONS]
    limit = current if isinstance(current, int) and current > 0 else None
    if limit is None:
        hit = [t.output_tokens for t in truncated if t.output_tokens is not None]
        limit = int(max(hit)) if hit else None
    if limit is None or completion.size == 0:
        return None
    p95 = float(np.percentile(completion, 95))
    # Truncated answers only show that the need exceeds the limit, never by how much, so the new
    # limit is at least double the old one as well as above the observed p95 with a margin.
    need = max(p95 * TRUNCATION_MARGIN, limit * 2.0)
    new_limit = int(math.ceil(need / _TOKEN_ROUNDING) * _TOKEN_ROUNDING)
    n_analysis = len(context.traces)
    gain = cluster.impact / n_analysis if n_analysis else 0.0
    cost_pct = censored_cost_change_pct(context.traces, limit, new_limit)
    rationale = (
        f"{cluster.size} traces ({cluster.share:.1%} of traffic) stop at the token limit "
        f"(max_tokens {limit}) and lose the end of the answer. The p95 completion length is {p95:.0f} "
        f"tokens; raising max_tokens to {new_limit} (p95 x {TRUNCATION_MARGIN} and at least double) covers "
        f"the observed need. A cut answer only shows that it needed more than {limit} tokens, so the "
        f"cost is predicted with every cut answer using the new limit: about {cost_pct:+.0f}% "
        f"output tokens."
    )
    edit = Edit(EditKind.SET_PARAM, new_limit, "max_tokens")
    estimate = Estimate(
        objective_gain=gain,
        cost_change_pct=cost_pct,
        basis="assumes every truncated trace of the cluster completes and passes once the limit is raised; "
        "cost from censored lengths (each truncated answer at the new limit)",
    )
    return make_proposal(
        context.baseline, Strategy.PLAYBOOK, [edit], rationale, [cluster.cluster_id], estimate=estimate
    )


def censored_cost_change_pct(traces: Sequence[Trace], old_limit: int, new_limit: int) -> float:
    """Predicted change in output tokens (percent) when `max_tokens` goes from `old_limit` to
    `new_limit`, reading truncated completions as *censored*: a cut answer's length is only known to
    be at least the old limit, so it is priced at the new limit (the answers were cut because they
    needed more; the new limit is what they may now use). Complete answers are unchanged. Taking the
    p95 of observed lengths instead reads the censored values as real and predicts far too little.
    Output tokens are the part of the cost that changes, so this is also the upper end of the
    relative cost change."""
    lengths = [t.output_tokens for t in traces if t.output_tokens is not None]
    total = float(sum(lengths))
    if total <= 0:
        return 0.0
    extra = sum(
        max(0, new_limit - max(old_limit, t.output_tokens))
        for t in traces
        if t.output_tokens is not None and t.finish_reason in TRUNCATED_FINISH_REASONS
    )
    return 100.0 * extra / total


# --------------------------------------------------------------------------------------------------
# tool errors


def _tool_guidance(context: ProposalContext, cluster: Cluster) -> Proposal | None:
    tool = dict(cluster.signature).get("tool")
    if tool is None:
        return None
    failed_calls = [
        call for trace in _cluster_traces(context, cluster) for call in trace.tool_calls if call.name == tool
    ]
    errors = [call.error for call in failed_calls if call.error]
    if not errors or all(_TRANSIENT.search(error) for error in errors):
        # Timeouts and unavailable services are not fixed by how the agent calls the tool.
        return None
    succeeded = [
        call
        for trace in context.traces
        for call in trace.tool_calls
        if call.name == tool and call.error is None
    ]
    instruction = tool_instruction(tool, errors, failed_calls, succeeded, _declared_tool(context, tool))
    rationale = (
        f"{cluster.size} traces ({cluster.share:.1%} of traffic) fail because calls to the tool '{tool}' "
        f"are rejected (most often: {_most_common(errors)!r}). This adds guidance on how to call '{tool}', "
        f"from its error messages and from the arguments its successful calls pass."
    )
    return _instruction(context, cluster, instruction, rationale)


def tool_instruction(
    tool: str,
    errors: Sequence[str],
    failed_calls: Sequence[ToolCall],
    succeeded_calls: Sequence[ToolCall],
    declared: Mapping[str, Any] | None,
) -> str:
    """Argument guidance for `tool`, on one line so it reads as one rule: the arguments to pass
    (declared as required, or present in every successful call) with values from successful calls
    as examples, the arguments failing calls left out, and the errors to avoid, quoted."""
    required: list[str] = []
    if declared is not None:
        parameters = declared.get("parameters") or declared.get("input_schema") or {}
        if isinstance(parameters, Mapping):
            required = [str(name) for name in parameters.get("required") or ()]
    if not required and succeeded_calls:
        counts = Counter(name for call in succeeded_calls for name in call.arguments)
        required = sorted(name for name, count in counts.items() if count == len(succeeded_calls))
    parts = [f"When you call the tool `{tool}`"]
    if required:
        described = []
        for name in required:
            examples = _example_values(name, succeeded_calls)
            described.append(f"`{name}`" + (f" in the form {examples}" if examples else ""))
        parts.append(f", always pass {', '.join(described)}")
    missing = Counter(name for call in failed_calls for name in required if not call.arguments.get(name))
    if missing:
        names = ", ".join(f"`{name}`" for name, _ in sorted(missing.items(), key=lambda kv: (-kv[1], kv[0])))
        parts.append(f"; failed calls left out {names}, so take the value from the user's message")
    quoted = "; ".join(f'"{error}"' for error in _distinct_errors(errors))
    parts.append(f". It rejected: {quoted}.")
    return "".join(parts)


def _example_values(argument: str, calls: Sequence[ToolCall]) -> str:
    """The most frequent value of `argument` from successful calls, most frequent first."""
    values = Counter(
        str(call.arguments[argument])
        for call in calls
        if isinstance(call.arguments.get(argument), (str, int, float)) and str(call.arguments[argument])
    )
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:1]
    return " or ".join(f"'{value[:40]}'" for value, _ in ranked)


def _declared_tool(context: ProposalContext, tool: str) -> Mapping[str, Any] | None:
    for declared in context.baseline.tools:
        function = declared.get("function") if isinstance(declared.get("function"), Mapping) else declared
        if isinstance(function, Mapping) and function.get("name") == tool:
            return function
    return None


def _distinct_errors(errors: Sequence[str]) -> list[str]:
    """The most frequent error messages, one per normalised form (ids and numbers masked)."""
    by_form: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for error in errors:
        form = " ".join(normalise_text(error).split())
        by_form.setdefault(form, error.strip())
        counts[form] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:_MAX_ERROR_EXAMPLES]
    return [by_form[form][:200] for form, _ in ranked]


def _most_common(errors: Sequence[str]) -> str:
    return _distinct_errors(errors)[0]


# --------------------------------------------------------------------------------------------------
# refusals


def _scope(context: ProposalContext, cluster: Cluster) -> Proposal | None:
    refused = _cluster_traces(context, cluster)
    if not refused:
        return None
    topics = distinctive_terms([t.input_text for t in refused], [t.input_text for t in context.traces])
    if not topics:
        return None
    listed = ", ".join(topics)
    instruction = f"Requests about {listed} are in your scope: answer them instead of refusing."
    rationale = (
        f"{cluster.size} traces ({cluster.share:.1%} of traffic) are refusals of requests about {listed}, "
        f"which the rubric expects to be answered. This states in the template that they are in scope."
    )
    return _instruction(context, cluster, instruction, rationale)


def distinctive_terms(
    texts: Sequence[str], background: Sequence[str], limit: int = _SCOPE_TERMS
) -> list[str]:
    """Content words (4+ letters) that are much more frequent in `texts` than in `background`, by
    the smoothed ratio of document frequencies; most distinctive first, ties by the term."""
    inside = Counter(
        term for text in texts for term in set(text_terms(text)) if " " not in term and len(term) > 3
    )
    outside = Counter(term for text in background for term in set(text_terms(text)) if " " not in term)
    n_in, n_out = max(1, len(texts)), max(1, len(background))
    scored = []
    for term, count in inside.items():
        rate_in = count / n_in
        lift = rate_in / ((outside[term] + 1) / (n_out + 1))
        if rate_in >= 0.1 and lift > 2.0:
            scored.append((-round(lift, 6), term))
    return [term for _, term in sorted(scored)[:limit]]
