"""A second planted workload for the scan benchmark, built outside the engine's generator (issue 11).

A travel-rebooking assistant (not customer support): a different domain, a different rubric (a
regex on a booking-reference line instead of a JSON schema), a long system prompt (so a prompt
sentence costs a few percent, as in real agents), two models already in traffic — `atlas-large` and
`atlas-small`, the cheaper one with the same quality on this domain — and four independent failure
modes whose fixes differ in cost:

- `date_format` (~13% of traces): customers write dates as `12/03` or `March 12`; without guidance the
  agent passes them to `search_flights` as written and 80% of those calls fail with
  `invalid date '12/03': expected YYYY-MM-DD`. Fixed (5% residual) by one template line naming
  `search_flights` and the `date` argument or the `YYYY-MM-DD` form. A prompt sentence: cheap.
- `missing_reference` (~19%): seat-change answers leave out the `Ref: TRV-123456` line 85% of the
  time. Fixed (3%) by a template line that states the reference format (`TRV-`). Cheap.
- `refusal` (~10%): pets, loyalty points and travel insurance are refused 80% of the time. Fixed (5%)
  by a template that talks about scope or refusing. Cheap.
- `truncated_itinerary` (~14%): multi-leg itineraries need 480-720 completion tokens; at
  `max_tokens` 400 they are cut. Any limit that covers the need fixes them all, but the complete
  answers are long: p95 latency rises far above +10% and cost about +10-15%. The fix is real and
  *beyond the default guardrails*: the scan must report it as `reject`, naming the guardrail, with
  its validated gain.

Noise in every workspace (also the noise-only one): vague answers (5%, re-drawn whenever the config
changes, so even a no-op change moves inputs), session-correlated: 15% of sessions are "hard" with
three times the noise; negative feedback. With `noise_only=True` the baseline already carries every
fix, so there is no real problem to find (moving traffic to `atlas-small`, which is as good and
cheaper, is a real saving, not a false accept).

Each cheap fix alone gains about +0.04 on the objective, twice the workspace's default minimum
holdout gain (0.02), and costs +2% to +7%; the three together cost about +12%, beyond the +10% cost
guardrail, so each must be found and validated on its own. `true_effects` measures these figures on
a large sample (the benchmark prints them), so the bar's "within the guardrails" is computed, not
asserted: a fix is within them when its true gain clears the minimum and its true cost and p95
latency changes stay within the limits. Effects at the thresholds themselves are not testable by
any method on a few thousand traces, and are not planted.

The agent is deterministic per (seed, input, config): `TravelRunner` replays it like an endpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from spectral.engine.scoring import objective_scales_from, score_traces
from spectral.engine.types import (
    AgentConfig,
    Constraints,
    Dimension,
    Objective,
    ObjectiveWeights,
    ReplayInput,
    ReplayResult,
    Rubric,
    ScorerSpec,
    ScorerType,
    ToolCall,
    Trace,
    input_text,
)

MODES = ("date_format", "missing_reference", "refusal", "truncated_itinerary")

BASELINE_MAX_TOKENS = 400
FIXED_MAX_TOKENS = 768
REFUSAL = "I'm sorry, but I can't help with that request."
VAGUE = "Thanks for your message. Our travel team will review your booking and get back to you."
DATE_TOOL = "search_flights"


@dataclass(frozen=True, slots=True)
class Model:
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    base_latency_ms: float
    ms_per_token: float


MODELS: Mapping[str, Model] = {
    "atlas-large": Model(3.0, 12.0, 600.0, 14.0),
    "atlas-small": Model(0.6, 2.4, 380.0, 8.0),
}
TRAFFIC = (("atlas-large", 0.75), ("atlas-small", 0.25))

SYSTEM_PROMPT = (
    "You are Skyway's rebooking assistant. Travellers write to you when a flight is cancelled, "
    "delayed or no longer fits their plans. Find them the best alternative: check availability with "
    "the search_flights tool before you promise a seat, compare fares with the fare rules of the "
    "original ticket, and explain any fare difference or change fee in plain numbers. Keep the "
    "traveller's preferences (aisle or window, direct flights, arrival times) when you can and say "
    "so when you cannot. Never invent a flight number, a seat or a fare. For multi-city trips, list "
    "every leg with its date, departure and arrival airports and times, and the connection time. "
    "Write in short paragraphs, in the traveller's language, and end with a friendly closing line. "
    "If a question needs a human agent (refund disputes, medical assistance, group bookings over "
    "nine travellers), say that a colleague will follow up and summarise what you already know."
)


def _unit(seed: int, *parts: object) -> float:
    digest = hashlib.blake2b("\x1f".join(map(str, (seed, *parts))).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _tokens(text: str) -> int:
    return max(1, round(len(text.split()) * 1.3))


def _template_text(config: AgentConfig) -> str:
    return "\n".join(config.templates.values())


def has_date_guidance(config: AgentConfig) -> bool:
    """A template line that names the tool and how to pass the date (the baseline prompt names the
    tool but says nothing about dates)."""
    return any(
        DATE_TOOL in line and ("`date`" in line or "YYYY-MM-DD" in line)
        for line in _template_text(config).splitlines()
    )


def has_reference_instruction(config: AgentConfig) -> bool:
    return "TRV-" in _template_text(config)


def has_scope_instruction(config: AgentConfig) -> bool:
    return re.search(r"\bscope\b|\brefus\w*", _template_text(config), re.IGNORECASE) is not None


def max_tokens(config: AgentConfig) -> int:
    value = config.params.get("max_tokens")
    return int(value) if isinstance(value, int | float) else BASELINE_MAX_TOKENS


def date_guidance() -> str:
    return "When you call `search_flights`, always pass `date` in the form YYYY-MM-DD (e.g. 2026-03-12)."


def reference_instruction() -> str:
    return "End every reply with the booking reference on its own line, as `Ref: TRV-` and six digits."


def scope_instruction() -> str:
    return "Pets on board, loyalty points and travel insurance are in scope; answer them instead of refusing."


def baseline_config(noise_only: bool) -> AgentConfig:
    system = SYSTEM_PROMPT
    params: dict[str, object] = {"temperature": 0.2, "max_tokens": BASELINE_MAX_TOKENS}
    if noise_only:
        system = "\n".join([system, date_guidance(), reference_instruction(), scope_instruction()])
        params["max_tokens"] = FIXED_MAX_TOKENS
    tool = {
        "name": DATE_TOOL,
        "description": "Flights between two airports on a date",
        "parameters": {"type": "object", "properties": {"origin": {}, "destination": {}, "date": {}}},
    }
    return AgentConfig("atlas-large", params, {"system": system}, (tool,))


def rubric() -> Rubric:
    return Rubric(
        name="rebooking answers",
        dimensions=(
            Dimension(
                "reference",
                ScorerSpec(ScorerType.REGEX, {"pattern": r"Ref: TRV-\d{6}"}),
                "Booking reference line",
                weight=2.0,
            ),
            Dimension("complete", ScorerSpec(ScorerType.NOT_TRUNCATED), "Not truncated", weight=2.0),
            Dimension("tools_ok", ScorerSpec(ScorerType.TOOL_SUCCESS), "Tool calls succeed", weight=2.0),
            Dimension("no_refusal", ScorerSpec(ScorerType.NO_REFUSAL), "No refusal"),
            Dimension(
                "helpful",
                ScorerSpec(ScorerType.SIMILARITY, {"method": "token_f1"}),
                "Close to the reference answer",
                threshold=0.4,
            ),
            Dimension("user_feedback", ScorerSpec(ScorerType.FEEDBACK), "User feedback", threshold=0.5),
        ),
    )


def objective() -> Objective:
    return Objective(
        name="quality, then cost and speed",
        weights=ObjectiveWeights(quality=1.0, cost=0.02, latency=0.01),
        constraints=Constraints(max_cost_usd_per_trace=0.05),
    )


# --------------------------------------------------------------------------------------------------
# Requests

_CITIES = ("Lisbon", "Oslo", "Vienna", "Dublin", "Athens", "Prague", "Madrid", "Helsinki", "Zurich", "Porto")
_MONTHS = ("January", "February", "March", "April", "May", "June")
_BORDERLINE = (
    "Can I bring my cat on board on booking TRV-{ref}?",
    "How do I use my loyalty points to upgrade booking TRV-{ref}?",
    "Is travel insurance included with booking TRV-{ref}?",
)
_GENERAL = (
    "My flight on booking TRV-{ref} was cancelled, what are my options?",
    "What is the baggage allowance on booking TRV-{ref}?",
    "Can I add a meal preference to booking TRV-{ref}?",
)
_INTENTS = (("change", 0.22), ("seat", 0.22), ("itinerary", 0.14), ("borderline", 0.12), ("general", 0.30))


def _message(intent: str, rng: np.random.Generator) -> str:
    ref = f"{int(rng.integers(0, 1_000_000)):06d}"
    if intent == "change":
        day, month = int(rng.integers(1, 29)), int(rng.integers(1, 7))
        style = int(rng.integers(0, 4))
        date = (
            f"2026-{month:02d}-{day:02d}"
            if style == 0
            else f"{day:02d}/{month:02d}"
            if style in (1, 2)
            else f"{_MONTHS[month - 1]} {day}"
        )
        return f"Please move booking TRV-{ref} to a flight on {date}."
    if intent == "seat":
        side = ("an aisle", "a window")[int(rng.integers(0, 2))]
        return f"I'd like {side} seat on booking TRV-{ref}."
    if intent == "itinerary":
        legs = int(rng.integers(3, 6))
        cities = [_CITIES[int(i)] for i in rng.choice(len(_CITIES), size=legs + 1, replace=False)]
        return f"Plan a {legs}-leg trip for booking TRV-{ref}: " + " to ".join(cities) + "."
    if intent == "borderline":
        return _BORDERLINE[int(rng.integers(0, len(_BORDERLINE)))].format(ref=ref)
    return _GENERAL[int(rng.integers(0, len(_GENERAL)))].format(ref=ref)


def _intent(text: str) -> str:
    if text.startswith("Please move"):
        return "change"
    if "seat on booking" in text:
        return "seat"
    if text.startswith("Plan a"):
        return "itinerary"
    if any(text.startswith(b.split("{")[0]) for b in _BORDERLINE):
        return "borderline"
    return "general"


def _reference_of(text: str) -> str:
    found = re.search(r"TRV-(\d{6})", text)
    return found.group(1) if found else "000000"


def reference_answer(text: str) -> str:
    """What a good reply says (without the reference line), the similarity scorer's expected output."""
    intent = _intent(text)
    if intent == "change":
        return "I found three flights on that date and moved your booking to the earliest direct one."
    if intent == "seat":
        return "Your seat request is confirmed and the new seat is shown in your booking."
    if intent == "itinerary":
        return "Here is your itinerary with every leg, its departure and arrival times and connections."
    if intent == "borderline":
        return "Yes, that is possible on your booking and here is how to arrange it."
    return "Here is what your booking allows and the options you have right now."


# --------------------------------------------------------------------------------------------------
# The agent


class TravelAgent:
    """Replies to one request under a config; deterministic per (seed, input, config)."""

    def __init__(self, config: AgentConfig, *, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.fingerprint = hashlib.blake2b(repr(config.to_dict()).encode(), digest_size=6).hexdigest()
        self.model = MODELS.get(config.model, MODELS["atlas-large"])
        self.prompt_tokens = _tokens(_template_text(config))
        self.date_ok = has_date_guidance(config)
        self.reference_ok = has_reference_instruction(config)
        self.scope_ok = has_scope_instruction(config)
        self.limit = max_tokens(config)

    def reply(self, request: ReplayInput) -> tuple[ReplayResult, str | None, str | None]:
        """The reply, the planted mode it failed by (or None) and the noise that hit it (or None)."""
        text = input_text(request.input)
        key = request.key
        intent = _intent(text)
        hard = _unit(self.seed, "hard", request.session_id or key) < 0.15
        noise_factor = 3.0 if hard else 1.0
        answer = reference_answer(text)
        reference = f"Ref: TRV-{_reference_of(text)}"
        need = 100 + int(40 * _unit(self.seed, "len", key))
        mode: str | None = None
        noise: str | None = None
        tool_calls: tuple[ToolCall, ...] = ()
        finish = "stop"
        with_reference = True
        if intent == "change":
            date = text.rsplit(" on ", 1)[1].rstrip(".")
            iso = re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) is not None
            fails = (not iso) and _unit(self.seed, "date", key) < (0.05 if self.date_ok else 0.8)
            error = f"invalid date '{date}': expected YYYY-MM-DD" if fails else None
            tool_calls = (ToolCall(DATE_TOOL, {"date": date}, error),)
            if fails:
                mode = "date_format"
                answer = "I could not find flights for that date. Please try another date."
        elif intent == "seat":
            if _unit(self.seed, "ref", key) < (0.03 if self.reference_ok else 0.85):
                mode, with_reference = "missing_reference", False
        elif intent == "itinerary":
            need = 480 + int(240 * _unit(self.seed, "legs", key))
            answer = f"{answer} " + " ".join(["Leg details with times and connection."] * 8)
        elif intent == "borderline" and _unit(self.seed, "refuse", key) < (0.05 if self.scope_ok else 0.8):
            mode, answer, with_reference, need = "refusal", REFUSAL, False, 14
        # Vague answers: re-drawn whenever the config changes (sampling noise of a real model).
        if mode is None and _unit(self.seed, "vague", key, self.fingerprint) < 0.05 * noise_factor:
            noise, answer = "vague", VAGUE
        output_tokens = need
        if need > self.limit:
            output_tokens, finish = self.limit, "length"
            answer = answer[: max(20, len(answer) * self.limit // need)]
            with_reference = False
            if mode is None and noise is None:
                mode = "truncated_itinerary"
        output = f"{answer}\n{reference}" if with_reference else answer
        input_tokens = self.prompt_tokens + _tokens(text)
        cost = (
            input_tokens * self.model.input_usd_per_mtok + output_tokens * self.model.output_usd_per_mtok
        ) / 1e6
        jitter = 1.0 + 0.15 * (_unit(self.seed, "lat", key, self.fingerprint) - 0.5)
        latency = (self.model.base_latency_ms + self.model.ms_per_token * output_tokens) * jitter
        result = ReplayResult(
            output=output,
            finish_reason=finish,
            model=self.config.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=round(cost, 9),
            latency_ms=round(latency, 3),
            tool_calls=tool_calls,
        )
        return result, mode, noise


class TravelRunner:
    """`Runner` over the in-process travel agent; counts calls like a replay endpoint would."""

    def __init__(self, *, seed: int) -> None:
        self.seed = seed
        self.calls = 0

    async def run(self, config: AgentConfig, inputs: Sequence[ReplayInput]) -> list[ReplayResult]:
        agent = TravelAgent(config, seed=self.seed)
        self.calls += len(inputs)
        return [agent.reply(request)[0] for request in inputs]


@dataclass(frozen=True, slots=True)
class TravelWorkspace:
    seed: int
    traces: tuple[Trace, ...]
    baseline: AgentConfig
    rubric: Rubric
    objective: Objective
    modes: tuple[str, ...]
    ground_truth: Mapping[str, str]
    noise: Mapping[str, str]

    def mode_trace_ids(self, mode: str) -> tuple[str, ...]:
        return tuple(trace_id for trace_id, planted in self.ground_truth.items() if planted == mode)


def generate(seed: int, n_traces: int, *, noise_only: bool = False) -> TravelWorkspace:
    """Recorded traffic: sessions of 1-4 requests, each on its session's model."""
    baseline = baseline_config(noise_only)
    rng = np.random.default_rng([seed, 11])
    intents = [name for name, _ in _INTENTS]
    weights = np.array([share for _, share in _INTENTS])
    models = [name for name, _ in TRAFFIC]
    model_weights = np.array([share for _, share in TRAFFIC])
    agents = {name: TravelAgent(dataclasses.replace(baseline, model=name), seed=seed) for name in models}
    traces: list[Trace] = []
    ground_truth: dict[str, str] = {}
    noise: dict[str, str] = {}
    session = 0
    while len(traces) < n_traces:
        session_id = f"t{seed}-{session:06d}"
        session += 1
        agent = agents[models[int(rng.choice(len(models), p=model_weights))]]
        hard = _unit(seed, "hard", session_id) < 0.15
        for _ in range(min(int(rng.integers(1, 5)), n_traces - len(traces))):
            trace_id = rng.bytes(16).hex()
            text = _message(intents[int(rng.choice(len(intents), p=weights))], rng)
            request = ReplayInput(input=text, trace_id=trace_id, session_id=session_id)
            result, mode, hit = agent.reply(request)
            failed = mode is not None or hit is not None
            feedback: tuple[float, ...] = ()
            if rng.random() < 0.3:
                unhappy = rng.random() < (0.12 if hard else 0.04)
                feedback = (0.0,) if failed or unhappy else (1.0,)
                if unhappy and not failed:
                    noise[trace_id] = "negative_feedback"
            if mode is not None and not noise_only:
                ground_truth[trace_id] = mode
            elif mode is not None:
                noise[trace_id] = f"residual_{mode}"
            elif hit is not None:
                noise[trace_id] = hit
            trace = result.to_trace(
                dataclasses.replace(request, expected_output=reference_answer(text)), agent.config
            )
            traces.append(dataclasses.replace(trace, agent_id="rebooking-agent", feedback=feedback))
    return TravelWorkspace(
        seed=seed,
        traces=tuple(traces),
        baseline=baseline,
        rubric=rubric(),
        objective=objective(),
        modes=() if noise_only else MODES,
        ground_truth=ground_truth,
        noise=noise,
    )


# --------------------------------------------------------------------------------------------------
# True effects


@dataclass(frozen=True, slots=True)
class TrueEffect:
    """A planted mode's fix measured on a large sample: mean objective gain per input, and the
    changes of mean cost and p95 latency in percent."""

    gain: float
    cost_change_pct: float
    p95_change_pct: float

    def within(self, *, min_gain: float, max_cost_pct: float, max_latency_pct: float) -> bool:
        return (
            self.gain >= min_gain
            and self.cost_change_pct <= max_cost_pct
            and self.p95_change_pct <= max_latency_pct
        )


def fixed_config(baseline: AgentConfig, mode: str) -> AgentConfig:
    """The baseline with one planted mode fixed as a person would fix it."""
    if mode == "truncated_itinerary":
        return dataclasses.replace(baseline, params={**baseline.params, "max_tokens": FIXED_MAX_TOKENS})
    line = {
        "date_format": date_guidance(),
        "missing_reference": reference_instruction(),
        "refusal": scope_instruction(),
    }[mode]
    system = "\n".join([baseline.templates["system"], line])
    return dataclasses.replace(baseline, templates={**baseline.templates, "system": system})


async def true_effects(seed: int, n_traces: int = 20_000) -> dict[str, TrueEffect]:
    """Each mode's fix replayed on `n_traces` recorded inputs against the baseline, scored by the
    workload's rubric and objective: the effects a scan's holdout estimates, with ~10x its precision."""
    workspace = generate(seed, n_traces)
    inputs = [ReplayInput.from_trace(trace) for trace in workspace.traces]
    scales = objective_scales_from(workspace.traces)
    runner = TravelRunner(seed=seed)

    async def replay(config: AgentConfig) -> tuple[np.ndarray, float, float]:
        results = await runner.run(config, inputs)
        table = score_traces(
            [r.to_trace(i, config) for i, r in zip(inputs, results, strict=True)],
            workspace.rubric,
            workspace.objective,
            scales,
        )
        cost = sum(r.cost_usd or 0.0 for r in results)
        return table.objective, cost, float(np.percentile([r.latency_ms or 0.0 for r in results], 95))

    base, base_cost, base_p95 = await replay(workspace.baseline)
    effects = {}
    for mode in MODES:
        objective, cost, p95 = await replay(fixed_config(workspace.baseline, mode))
        effects[mode] = TrueEffect(
            gain=float(np.nanmean(objective - base)),
            cost_change_pct=100.0 * (cost / base_cost - 1.0),
            p95_change_pct=100.0 * (p95 / base_p95 - 1.0),
        )
    return effects
