"""The engine's `Judge` through the gateway: an `llm_judge` dimension's criteria and a trace's
input and output become one prompt, and the model's JSON answer a score in [0, 1] and a reason.

An answer that is not such JSON, or a call the gateway refused or the provider failed, is "cannot
judge" (None): the dimension stays unscored rather than getting a made-up score. Over budget, the
engine's `BudgetExhausted` goes through so judging stops.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from spectral.engine.protocols import JudgeScore
from spectral.engine.types import Dimension, Trace
from spectral.platform.models.budget import Budget
from spectral.platform.models.errors import GatewayError
from spectral.platform.models.gateway import CallContext, ModelGateway
from spectral.platform.models.providers import ChatRequest

log = logging.getLogger("spectral.models")

# A score and a sentence or two; room for a model that thinks aloud before its JSON.
JUDGE_MAX_TOKENS = 400
# Per section of the prompt: a judge needs the gist, and long traces must not blow the budget.
SECTION_LIMIT_CHARS = 6000
REASON_LIMIT_CHARS = 1000

JUDGE_SYSTEM = (
    "You are an impartial evaluator of an AI agent's outputs. Judge the output only against the "
    "criterion you are given. Reply with one JSON object and nothing else: "
    '{"score": <a number from 0 to 1>, "reason": "<one or two sentences>"}. '
    "1 means the output fully meets the criterion, 0 means it does not meet it at all."
)


def _section(tag: str, text: str) -> str:
    if len(text) > SECTION_LIMIT_CHARS:
        text = f"{text[:SECTION_LIMIT_CHARS]}\n[... {len(text) - SECTION_LIMIT_CHARS} more characters cut]"
    return f"<{tag}>\n{text}\n</{tag}>"


def judge_prompt(dimension: Dimension, trace: Trace) -> str:
    criteria = str(dimension.scorer.params.get("criteria") or "").strip()
    parts = [f"Criterion: {dimension.name or dimension.key}"]
    if dimension.description.strip():
        parts.append(dimension.description.strip())
    if criteria:
        parts.append(criteria)
    parts += ["", "Input given to the agent:", _section("input", trace.input_text)]
    if trace.expected_output is not None:
        parts += ["", "Expected output (a reference, not the only right answer):"]
        parts.append(_section("expected", trace.expected_output))
    parts += ["", "The agent's output:", _section("output", trace.output), "", "Your JSON verdict:"]
    return "\n".join(parts)


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in `text`, outermost first: the answer may be fenced or have prose around it."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except ValueError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        index = text.find("{", end)
    return found


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return None
    return float(value)


def parse_judgement(answer: str) -> JudgeScore | None:
    """The first JSON object with a `score` in [0, 1]; None when there is none (never a guess)."""
    for candidate in _json_objects(answer):
        if "score" not in candidate:
            continue
        score = _score(candidate["score"])
        if score is None:
            return None
        reason = candidate.get("reason")
        return JudgeScore(score=score, reason="" if reason is None else str(reason)[:REASON_LIMIT_CHARS])
    return None


class GatewayJudge:
    """Judges with the dimension's `model` param, else the judge model of the scan."""

    def __init__(
        self, gateway: ModelGateway, context: CallContext, budget: Budget, model: str | None
    ) -> None:
        self._gateway = gateway
        self._context = context
        self._budget = budget
        self._model = model

    async def judge(self, dimension: Dimension, trace: Trace) -> JudgeScore | None:
        model = str(dimension.scorer.params.get("model") or "").strip() or self._model
        if model is None:
            return None
        request = ChatRequest(
            model=model,
            prompt=judge_prompt(dimension, trace),
            system=JUDGE_SYSTEM,
            max_tokens=JUDGE_MAX_TOKENS,
            temperature=0.0,
        )
        try:
            completion = await self._gateway.complete(request, self._context, self._budget)
        except GatewayError as exc:
            log.warning(
                "llm judge call failed", extra={"model": model, "dimension": dimension.key, "error": str(exc)}
            )
            return None
        judgement = parse_judgement(completion.text)
        if judgement is None:
            log.info("llm judge answer unparsable", extra={"model": model, "dimension": dimension.key})
        return judgement
