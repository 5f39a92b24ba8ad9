"""The engine's data: frozen, slotted dataclasses that serialise to plain JSON values.

Conventions every type follows:
- Sequences are tuples. Free-form mappings (`params`, `arguments`, `metadata`, ...) are plain dicts
  that the engine treats as read-only; they stay dicts so the values are JSON-ready and picklable.
- `to_dict()` returns JSON-ready values (lists, dicts, str, numbers, None; enums as their string value)
  and `from_dict(to_dict(x)) == x`. `from_dict` accepts what the platform stores: missing optional
  keys take their defaults.
- Times are milliseconds, money is USD, scores are floats in [0, 1]; `None` means "unknown" or
  "unscored", never zero.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from spectral.engine.errors import ConfigDiffConflictError, InvalidRubricError

JSONDict = dict[str, Any]


def _to_plain(value: Any) -> Any:
    """Convert engine values to JSON-ready values, recursively."""
    if isinstance(value, StrEnum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        if to_dict is not None:
            return to_dict()
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): _to_plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_to_plain(item) for item in value]
    return value


def _fields_to_dict(obj: Any) -> JSONDict:
    return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_interval(value: Any) -> ChangeInterval | None:
    return None if value is None else ChangeInterval.from_dict(value)


# --------------------------------------------------------------------------------------------------
# Enumerations


class TraceStatus(StrEnum):
    OK = "ok"
    ERROR = "error"


class ScorerType(StrEnum):
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    REGEX = "regex"
    JSON_VALID = "json_valid"
    JSON_SCHEMA = "json_schema"
    EXACT_MATCH = "exact_match"
    SIMILARITY = "similarity"
    LENGTH = "length"
    LATENCY_MAX_MS = "latency_max_ms"
    COST_MAX_USD = "cost_max_usd"
    NO_ERROR = "no_error"
    TOOL_SUCCESS = "tool_success"
    NOT_TRUNCATED = "not_truncated"
    NO_REFUSAL = "no_refusal"
    FEEDBACK = "feedback"
    LLM_JUDGE = "llm_judge"


class CauseCategory(StrEnum):
    FORMAT = "format"
    TRUNCATION = "truncation"
    TOOL_ERROR = "tool_error"
    MISMATCH = "mismatch"
    REFUSAL = "refusal"
    LATENCY = "latency"
    COST = "cost"
    OTHER = "other"


class Strategy(StrEnum):
    PLAYBOOK = "playbook"
    FEW_SHOT = "few_shot"
    MODEL_ROUTING = "model_routing"
    LLM_REWRITE = "llm_rewrite"


class ChangeKind(StrEnum):
    SET_MODEL = "set_model"
    SET_PARAM = "set_param"
    EDIT_TEMPLATE = "edit_template"


class Verdict(StrEnum):
    RECOMMEND = "recommend"
    INCONCLUSIVE = "inconclusive"
    REJECT = "reject"


class ScanPhase(StrEnum):
    COLLECT = "collect"
    EVALUATE = "evaluate"
    DIAGNOSE = "diagnose"
    PROPOSE = "propose"
    EXPERIMENT = "experiment"
    VALIDATE = "validate"
    REPORT = "report"


class EventLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


# --------------------------------------------------------------------------------------------------
# Traces


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message of a trace's root input."""

    role: str
    content: str

    def to_dict(self) -> JSONDict:
        return {"role": self.role, "content": self.content}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        return cls(role=str(data["role"]), content=str(data.get("content") or ""))


TraceInput = str | tuple[Message, ...]
"""A trace's root input: plain text or a messages list (as the replay contract sends it)."""


def input_to_plain(value: TraceInput) -> str | list[JSONDict]:
    return value if isinstance(value, str) else [message.to_dict() for message in value]


def input_from_plain(value: Any) -> TraceInput:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return tuple(Message.from_dict(item) for item in value)


def input_text(value: TraceInput) -> str:
    """The input as one text: the content of the last user message for a messages list."""
    if isinstance(value, str):
        return value
    for message in reversed(value):
        if message.role == "user":
            return message.content
    return value[-1].content if value else ""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool invocation; `error` is the tool's error message, None when it succeeded."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> JSONDict:
        return {"name": self.name, "arguments": _to_plain(self.arguments), "error": self.error}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        return cls(
            name=str(data["name"]),
            arguments=dict(data.get("arguments") or {}),
            error=data.get("error"),
        )


@dataclass(frozen=True, slots=True)
class Span:
    """A span of a trace's tree, as the normaliser produced it (only what scoring needs)."""

    span_id: str
    name: str
    parent_span_id: str | None = None
    kind: str = "internal"
    status: TraceStatus = TraceStatus.OK
    error_type: str | None = None
    error_message: str | None = None
    latency_ms: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Span:
        return cls(
            span_id=str(data["span_id"]),
            name=str(data["name"]),
            parent_span_id=data.get("parent_span_id"),
            kind=str(data.get("kind", "internal")),
            status=TraceStatus(data.get("status", TraceStatus.OK)),
            error_type=data.get("error_type"),
            error_message=data.get("error_message"),
            latency_ms=_opt_float(data.get("latency_ms")),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True, slots=True)
class Trace:
    """One agent run as the scan sees it: the root input and output plus what the scorers read.

    `finish_reason` is the model's (`stop`, `length`, `tool_calls`, ...). `feedback` holds user
    feedback already mapped to [0, 1]. `status`, `error_type` and `error_message` summarise the spans
    (error if the root or any LLM span failed).
    """

    trace_id: str
    input: TraceInput
    output: str
    session_id: str | None = None
    agent_id: str | None = None
    expected_output: str | None = None
    model: str | None = None
    status: TraceStatus = TraceStatus.OK
    error_type: str | None = None
    error_message: str | None = None
    finish_reason: str | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    feedback: tuple[float, ...] = ()
    spans: tuple[Span, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def session_key(self) -> str:
        """The resampling unit of the session bootstrap: the session, or the trace itself."""
        return self.session_id if self.session_id is not None else self.trace_id

    @property
    def input_text(self) -> str:
        return input_text(self.input)

    def to_dict(self) -> JSONDict:
        data = _fields_to_dict(self)
        data["input"] = input_to_plain(self.input)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        return cls(
            trace_id=str(data["trace_id"]),
            input=input_from_plain(data.get("input")),
            output=str(data.get("output") or ""),
            session_id=data.get("session_id"),
            agent_id=data.get("agent_id"),
            expected_output=data.get("expected_output"),
            model=data.get("model"),
            status=TraceStatus(data.get("status", TraceStatus.OK)),
            error_type=data.get("error_type"),
            error_message=data.get("error_message"),
            finish_reason=data.get("finish_reason"),
            latency_ms=_opt_float(data.get("latency_ms")),
            cost_usd=_opt_float(data.get("cost_usd")),
            input_tokens=_opt_int(data.get("input_tokens")),
            output_tokens=_opt_int(data.get("output_tokens")),
            tool_calls=tuple(ToolCall.from_dict(item) for item in data.get("tool_calls") or ()),
            feedback=tuple(float(item) for item in data.get("feedback") or ()),
            spans=tuple(Span.from_dict(item) for item in data.get("spans") or ()),
            metadata=dict(data.get("metadata") or {}),
        )


# --------------------------------------------------------------------------------------------------
# Agent configuration and diffs


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """An agent config in the API shape: `{"model", "params", "templates", "tools"}`."""

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)
    tools: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> JSONDict:
        return {
            "model": self.model,
            "params": _to_plain(self.params),
            "templates": dict(self.templates),
            "tools": _to_plain(self.tools),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentConfig:
        return cls(
            model=str(data["model"]),
            params=dict(data.get("params") or {}),
            templates={str(k): str(v) for k, v in (data.get("templates") or {}).items()},
            tools=tuple(dict(tool) for tool in data.get("tools") or ()),
        )


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """One edit of a config.

    - `set_model`: `key` is None, `before`/`after` are model names.
    - `set_param`: `key` is the param name; `before`/`after` its values (None = absent).
    - `edit_template`: `key` is the template name; `before`/`after` the full texts (None = absent).
    """

    kind: ChangeKind
    before: Any
    after: Any
    key: str | None = None

    def __post_init__(self) -> None:
        if self.kind is ChangeKind.SET_MODEL:
            if self.key is not None or not isinstance(self.after, str) or not self.after:
                raise InvalidRubricError("set_model takes no key and a non-empty model name")
        elif not self.key:
            raise InvalidRubricError(f"{self.kind.value} needs the name of the param or template")

    def describe(self) -> str:
        if self.kind is ChangeKind.SET_MODEL:
            return f"model: {self.before} -> {self.after}"
        if self.kind is ChangeKind.SET_PARAM:
            return f"params.{self.key}: {self.before!r} -> {self.after!r}"
        return (
            f"templates.{self.key}: edited ({_len_or_zero(self.before)} -> {_len_or_zero(self.after)} chars)"
        )

    def to_dict(self) -> JSONDict:
        return {
            "kind": self.kind.value,
            "key": self.key,
            "before": _to_plain(self.before),
            "after": _to_plain(self.after),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfigChange:
        return cls(
            kind=ChangeKind(data["kind"]),
            key=data.get("key"),
            before=data.get("before"),
            after=data.get("after"),
        )


def _len_or_zero(text: Any) -> int:
    return len(text) if isinstance(text, str) else 0


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    """A change set's concrete edit of an agent config: an ordered tuple of changes."""

    changes: tuple[ConfigChange, ...] = ()

    @classmethod
    def between(cls, before: AgentConfig, after: AgentConfig) -> ConfigDiff:
        """The diff that turns `before` into `after` (models, params and templates; tools are fixed)."""
        changes: list[ConfigChange] = []
        if before.model != after.model:
            changes.append(ConfigChange(ChangeKind.SET_MODEL, before.model, after.model))
        for key in sorted(set(before.params) | set(after.params)):
            if before.params.get(key) != after.params.get(key):
                changes.append(
                    ConfigChange(ChangeKind.SET_PARAM, before.params.get(key), after.params.get(key), key)
                )
        for key in sorted(set(before.templates) | set(after.templates)):
            if before.templates.get(key) != after.templates.get(key):
                changes.append(
                    ConfigChange(
                        ChangeKind.EDIT_TEMPLATE, before.templates.get(key), after.templates.get(key), key
                    )
                )
        return cls(tuple(changes))

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def apply(self, config: AgentConfig) -> AgentConfig:
        """Apply the changes in order.

        Raises `ConfigDiffConflictError` when a change's `before` is not the config's current value:
        a diff made against another config version must not silently overwrite newer edits.
        """
        model = config.model
        params = dict(config.params)
        templates = dict(config.templates)
        for change in self.changes:
            if change.kind is ChangeKind.SET_MODEL:
                current: Any = model
            elif change.kind is ChangeKind.SET_PARAM:
                current = params.get(change.key or "")
            else:
                current = templates.get(change.key or "")
            if current != change.before:
                raise ConfigDiffConflictError(
                    f"cannot apply '{change.describe()}': current value is {_short(current)}"
                )
            if change.kind is ChangeKind.SET_MODEL:
                model = change.after
            elif change.kind is ChangeKind.SET_PARAM:
                _set_or_remove(params, change.key or "", change.after)
            else:
                _set_or_remove(templates, change.key or "", change.after)
        return AgentConfig(model=model, params=params, templates=templates, tools=config.tools)

    def describe(self) -> str:
        return "; ".join(change.describe() for change in self.changes) or "no change"

    def to_dict(self) -> JSONDict:
        return {"changes": [change.to_dict() for change in self.changes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfigDiff:
        return cls(tuple(ConfigChange.from_dict(item) for item in data.get("changes") or ()))


def _set_or_remove(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------------------------------
# Rubrics and objectives


@dataclass(frozen=True, slots=True)
class ScorerSpec:
    """`{"type": ..., "params": {...}}`; params are checked by `scoring.validate_scorer_params`."""

    type: ScorerType
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> JSONDict:
        return {"type": self.type.value, "params": _to_plain(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScorerSpec:
        return cls(type=ScorerType(data["type"]), params=dict(data.get("params") or {}))


@dataclass(frozen=True, slots=True)
class Dimension:
    """A rubric dimension: a trace passes it when its score is at least `threshold`."""

    key: str
    scorer: ScorerSpec
    name: str = ""
    description: str = ""
    weight: float = 1.0
    threshold: float = 1.0

    def __post_init__(self) -> None:
        if not self.key:
            raise InvalidRubricError("a dimension needs a key")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise InvalidRubricError(f"dimension {self.key!r}: weight must be > 0, got {self.weight}")
        if not (0.0 <= self.threshold <= 1.0):
            raise InvalidRubricError(
                f"dimension {self.key!r}: threshold must be in [0, 1], got {self.threshold}"
            )

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dimension:
        return cls(
            key=str(data["key"]),
            scorer=ScorerSpec.from_dict(data["scorer"]),
            name=str(data.get("name") or data["key"]),
            description=str(data.get("description") or ""),
            weight=float(data.get("weight", 1.0)),
            threshold=float(data.get("threshold", 1.0)),
        )


@dataclass(frozen=True, slots=True)
class Rubric:
    dimensions: tuple[Dimension, ...]
    name: str = ""

    def __post_init__(self) -> None:
        keys = [dimension.key for dimension in self.dimensions]
        if len(set(keys)) != len(keys):
            raise InvalidRubricError(f"dimension keys must be unique, got {keys}")

    def dimension(self, key: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.key == key:
                return dimension
        raise KeyError(key)

    def to_dict(self) -> JSONDict:
        return {"name": self.name, "dimensions": [d.to_dict() for d in self.dimensions]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rubric:
        return cls(
            dimensions=tuple(Dimension.from_dict(item) for item in data.get("dimensions") or ()),
            name=str(data.get("name") or ""),
        )


@dataclass(frozen=True, slots=True)
class ObjectiveWeights:
    quality: float = 1.0
    cost: float = 0.0
    latency: float = 0.0

    def __post_init__(self) -> None:
        for name in ("quality", "cost", "latency"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidRubricError(f"objective weight {name} must be >= 0, got {value}")

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectiveWeights:
        return cls(
            quality=float(data.get("quality", 1.0)),
            cost=float(data.get("cost", 0.0)),
            latency=float(data.get("latency", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class Constraints:
    """Hard limits. Per trace, cost and latency above the limits (and a dimension below its minimum)
    fail the trace; the p95 latency limit is also checked on the aggregate at validation."""

    max_cost_usd_per_trace: float | None = None
    max_p95_latency_ms: float | None = None
    min_dimension: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Constraints:
        return cls(
            max_cost_usd_per_trace=_opt_float(data.get("max_cost_usd_per_trace")),
            max_p95_latency_ms=_opt_float(data.get("max_p95_latency_ms")),
            min_dimension={str(k): float(v) for k, v in (data.get("min_dimension") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Objective:
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    constraints: Constraints = field(default_factory=Constraints)
    name: str = ""

    def to_dict(self) -> JSONDict:
        return {
            "name": self.name,
            "weights": self.weights.to_dict(),
            "constraints": self.constraints.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Objective:
        return cls(
            weights=ObjectiveWeights.from_dict(data.get("weights") or {}),
            constraints=Constraints.from_dict(data.get("constraints") or {}),
            name=str(data.get("name") or ""),
        )


@dataclass(frozen=True, slots=True)
class ObjectiveScales:
    """Reference scales that put cost and latency on the quality scale.

    normalised cost = cost_usd / cost_ref_usd and normalised latency = latency_ms / latency_ref_ms.
    They are fixed once from the *baseline* traces (`scoring.objective_scales_from`) and reused for
    every candidate, so a difference in objective is a fixed linear function of the differences in
    quality, cost and latency.
    """

    cost_ref_usd: float = 1.0
    latency_ref_ms: float = 1000.0

    def __post_init__(self) -> None:
        if not (self.cost_ref_usd > 0 and self.latency_ref_ms > 0):
            raise InvalidRubricError("objective reference scales must be > 0")

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectiveScales:
        return cls(cost_ref_usd=float(data["cost_ref_usd"]), latency_ref_ms=float(data["latency_ref_ms"]))


# --------------------------------------------------------------------------------------------------
# Scores


@dataclass(frozen=True, slots=True)
class DimensionScore:
    """`score` None = unscored (e.g. llm_judge without a provider); `passed` is then None too."""

    key: str
    score: float | None
    passed: bool | None
    reason: str

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DimensionScore:
        return cls(
            key=str(data["key"]),
            score=_opt_float(data.get("score")),
            passed=data.get("passed"),
            reason=str(data.get("reason") or ""),
        )


@dataclass(frozen=True, slots=True)
class TraceScore:
    """A trace's scores. `quality` is the weighted mean of scored dimensions (None if none scored);
    `objective` is None exactly when `quality` is. `violations` names violated constraints."""

    trace_id: str
    dimensions: tuple[DimensionScore, ...]
    quality: float | None
    objective: float | None
    violations: tuple[str, ...] = ()

    @property
    def failed_dimensions(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.dimensions if d.passed is False)

    @property
    def failed(self) -> bool:
        return bool(self.violations) or any(d.passed is False for d in self.dimensions)

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TraceScore:
        return cls(
            trace_id=str(data["trace_id"]),
            dimensions=tuple(DimensionScore.from_dict(item) for item in data.get("dimensions") or ()),
            quality=_opt_float(data.get("quality")),
            objective=_opt_float(data.get("objective")),
            violations=tuple(str(item) for item in data.get("violations") or ()),
        )


# --------------------------------------------------------------------------------------------------
# Replay


@dataclass(frozen=True, slots=True)
class ReplayInput:
    """What a replay sends besides the config: the trace's (or sample's) root input.

    `session_id` keeps holdout pairs resampled by session; `expected_output` and `metadata` travel
    along so replayed outputs can be scored like the original trace (`exact_match`, `similarity`).
    """

    input: TraceInput
    trace_id: str | None = None
    sample_id: str | None = None
    session_id: str | None = None
    expected_output: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A stable identity for pairing baseline and candidate results."""
        return self.trace_id or self.sample_id or ""

    @classmethod
    def from_trace(cls, trace: Trace) -> ReplayInput:
        return cls(
            input=trace.input,
            trace_id=trace.trace_id,
            session_id=trace.session_id,
            expected_output=trace.expected_output,
            metadata=trace.metadata,
        )

    def request_body(self, config: AgentConfig) -> JSONDict:
        """The JSON body of `POST replay_url` (docs/scans.md replay contract)."""
        return {
            "input": input_to_plain(self.input),
            "config": config.to_dict(),
            "trace_id": self.trace_id,
            "sample_id": self.sample_id,
        }

    def to_dict(self) -> JSONDict:
        data = _fields_to_dict(self)
        data["input"] = input_to_plain(self.input)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplayInput:
        return cls(
            input=input_from_plain(data.get("input")),
            trace_id=data.get("trace_id"),
            sample_id=data.get("sample_id"),
            session_id=data.get("session_id"),
            expected_output=data.get("expected_output"),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The replay endpoint's answer (only `output` is required by the contract).

    A replay that failed (timeout, 5xx, invalid body) is a result with status `error` and an
    `error_type`/`error_message`, so it is scored (and fails `no_error`) instead of vanishing.
    """

    output: str
    finish_reason: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    status: TraceStatus = TraceStatus.OK
    error_type: str | None = None
    error_message: str | None = None

    def to_trace(
        self, replay_input: ReplayInput, config: AgentConfig, *, trace_id: str | None = None
    ) -> Trace:
        """The replay as a trace, so the rubric's scorers score it exactly like a recorded trace."""
        return Trace(
            trace_id=trace_id or replay_input.key,
            input=replay_input.input,
            output=self.output,
            session_id=replay_input.session_id,
            expected_output=replay_input.expected_output,
            model=self.model or config.model,
            status=self.status,
            error_type=self.error_type,
            error_message=self.error_message,
            finish_reason=self.finish_reason,
            latency_ms=self.latency_ms,
            cost_usd=self.cost_usd,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tool_calls=self.tool_calls,
            metadata=replay_input.metadata,
        )

    def to_dict(self) -> JSONDict:
        """The contract's response shape (`usage` nested), plus status and error fields."""
        return {
            "output": self.output,
            "finish_reason": self.finish_reason,
            "model": self.model,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens},
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "tool_calls": [call.to_dict() for call in self.tool_calls],
            "status": self.status.value,
            "error_type": self.error_type,
            "error_message": self.error_message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplayResult:
        """Parse a replay endpoint's response; raises KeyError/ValueError/TypeError when malformed."""
        usage = data.get("usage") or {}
        output = data["output"]
        if not isinstance(output, str):
            raise TypeError("replay output must be a string")
        return cls(
            output=output,
            finish_reason=data.get("finish_reason"),
            model=data.get("model"),
            input_tokens=_opt_int(usage.get("input_tokens")),
            output_tokens=_opt_int(usage.get("output_tokens")),
            cost_usd=_opt_float(data.get("cost_usd")),
            latency_ms=_opt_float(data.get("latency_ms")),
            tool_calls=tuple(ToolCall.from_dict(item) for item in data.get("tool_calls") or ()),
            status=TraceStatus(data.get("status", TraceStatus.OK)),
            error_type=data.get("error_type"),
            error_message=data.get("error_message"),
        )


# --------------------------------------------------------------------------------------------------
# Diagnose, propose, experiment, validate


@dataclass(frozen=True, slots=True)
class Cluster:
    """A group of failing traces with one likely cause.

    `signature` holds the grouping features (failing dimension, error type, tool name, finish reason,
    model) as sorted `(name, value)` pairs; `impact` = size * mean objective loss.
    """

    cluster_id: str
    label: str
    cause: CauseCategory
    signature: tuple[tuple[str, str], ...]
    trace_ids: tuple[str, ...]
    share: float
    impact: float
    exemplar_trace_ids: tuple[str, ...] = ()
    failing_dimensions: tuple[str, ...] = ()
    top_terms: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(self.trace_ids)

    def to_dict(self) -> JSONDict:
        data = _fields_to_dict(self)
        data["size"] = self.size
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cluster:
        return cls(
            cluster_id=str(data["cluster_id"]),
            label=str(data["label"]),
            cause=CauseCategory(data["cause"]),
            signature=tuple((str(k), str(v)) for k, v in data.get("signature") or ()),
            trace_ids=tuple(str(item) for item in data.get("trace_ids") or ()),
            share=float(data["share"]),
            impact=float(data["impact"]),
            exemplar_trace_ids=tuple(str(item) for item in data.get("exemplar_trace_ids") or ()),
            failing_dimensions=tuple(str(item) for item in data.get("failing_dimensions") or ()),
            top_terms=tuple(str(item) for item in data.get("top_terms") or ()),
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A proposed change of the agent config. `estimated` = no replay possible (trace-based only)."""

    candidate_id: str
    strategy: Strategy
    diff: ConfigDiff
    rationale: str
    cluster_ids: tuple[str, ...] = ()
    parent_id: str | None = None
    estimated: bool = False

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(
            candidate_id=str(data["candidate_id"]),
            strategy=Strategy(data["strategy"]),
            diff=ConfigDiff.from_dict(data["diff"]),
            rationale=str(data.get("rationale") or ""),
            cluster_ids=tuple(str(item) for item in data.get("cluster_ids") or ()),
            parent_id=data.get("parent_id"),
            estimated=bool(data.get("estimated", False)),
        )


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """A candidate against the baseline on the same analysis inputs (one search stage)."""

    candidate_id: str
    stage: str
    n_inputs: int
    baseline_objective: float
    candidate_objective: float
    baseline_cost_usd: float
    candidate_cost_usd: float
    baseline_latency_ms: float
    candidate_latency_ms: float
    dimension_pass_rates: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    accepted: bool = False
    on_pareto_front: bool = False
    estimated: bool = False
    baseline_latency_p95_ms: float | None = None
    candidate_latency_p95_ms: float | None = None
    within_guardrails: bool = True
    """Mean cost and p95 latency stay inside the workspace's guardrails on these inputs (known
    before validation, so finalists can be filtered on it)."""

    @property
    def objective_difference(self) -> float:
        return self.candidate_objective - self.baseline_objective

    def to_dict(self) -> JSONDict:
        data = _fields_to_dict(self)
        data["objective_difference"] = self.objective_difference
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentResult:
        return cls(
            candidate_id=str(data["candidate_id"]),
            stage=str(data["stage"]),
            n_inputs=int(data["n_inputs"]),
            baseline_objective=float(data["baseline_objective"]),
            candidate_objective=float(data["candidate_objective"]),
            baseline_cost_usd=float(data["baseline_cost_usd"]),
            candidate_cost_usd=float(data["candidate_cost_usd"]),
            baseline_latency_ms=float(data["baseline_latency_ms"]),
            candidate_latency_ms=float(data["candidate_latency_ms"]),
            dimension_pass_rates={
                str(k): (float(v[0]), float(v[1]))
                for k, v in (data.get("dimension_pass_rates") or {}).items()
            },
            accepted=bool(data.get("accepted", False)),
            on_pareto_front=bool(data.get("on_pareto_front", False)),
            estimated=bool(data.get("estimated", False)),
            baseline_latency_p95_ms=_opt_float(data.get("baseline_latency_p95_ms")),
            candidate_latency_p95_ms=_opt_float(data.get("candidate_latency_p95_ms")),
            within_guardrails=bool(data.get("within_guardrails", True)),
        )


MAX_OUTPUT_CHARS = 2000
"""Outputs kept per replay in an experiment report: enough to read, bounded to keep reports small."""


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """One config's replay of one input as an experiment shows it: the output (its first
    `MAX_OUTPUT_CHARS` characters), its scores (pass/fail per dimension), cost and latency."""

    output: str
    score: TraceScore
    cost_usd: float | None = None
    latency_ms: float | None = None

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplayOutcome:
        return cls(
            output=str(data.get("output") or ""),
            score=TraceScore.from_dict(data["score"]),
            cost_usd=_opt_float(data.get("cost_usd")),
            latency_ms=_opt_float(data.get("latency_ms")),
        )


@dataclass(frozen=True, slots=True)
class ExperimentRow:
    """Baseline and candidate on one input. `key` is the input's trace or sample id."""

    key: str
    baseline: ReplayOutcome
    candidate: ReplayOutcome
    session_id: str | None = None

    @property
    def objective_difference(self) -> float | None:
        """Candidate minus baseline; None when either side could not be scored."""
        base, cand = self.baseline.score.objective, self.candidate.score.objective
        return None if base is None or cand is None else cand - base

    def to_dict(self) -> JSONDict:
        data = _fields_to_dict(self)
        data["objective_difference"] = self.objective_difference
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentRow:
        return cls(
            key=str(data["key"]),
            baseline=ReplayOutcome.from_dict(data["baseline"]),
            candidate=ReplayOutcome.from_dict(data["candidate"]),
            session_id=data.get("session_id"),
        )


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    """A candidate against the baseline on a sample set, outside a scan.

    `result` is the aggregate over the inputs scored on both sides; `ci_low`/`ci_high` bound its
    mean objective difference (95%, session bootstrap seeded by `seed`) and are None when no input
    could be scored on both sides. `scales` are the objective scales both sides were scored with.
    `result.accepted` stays False: an experiment informs, only a holdout validation decides.
    """

    result: ExperimentResult
    scales: ObjectiveScales
    seed: int
    ci_low: float | None
    ci_high: float | None
    n_sessions: int
    rows: tuple[ExperimentRow, ...] = ()

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentReport:
        return cls(
            result=ExperimentResult.from_dict(data["result"]),
            scales=ObjectiveScales.from_dict(data["scales"]),
            seed=int(data["seed"]),
            ci_low=_opt_float(data.get("ci_low")),
            ci_high=_opt_float(data.get("ci_high")),
            n_sessions=int(data["n_sessions"]),
            rows=tuple(ExperimentRow.from_dict(item) for item in data.get("rows") or ()),
        )


@dataclass(frozen=True, slots=True)
class ConstraintCheck:
    """One constraint or guardrail checked on the holdout (`value` vs `limit`)."""

    name: str
    passed: bool
    value: float | None
    limit: float | None
    detail: str = ""

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConstraintCheck:
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            value=_opt_float(data.get("value")),
            limit=_opt_float(data.get("limit")),
            detail=str(data.get("detail") or ""),
        )


@dataclass(frozen=True, slots=True)
class ChangeInterval:
    """A relative change (candidate vs baseline, in percent) with its session-bootstrap CI
    (`stats.change_interval`)."""

    change_pct: float
    low_pct: float
    high_pct: float

    def describe(self, measure: str) -> str:
        """E.g. `p95 latency +4.1% [-18.3%, +27.0%]`."""
        return f"{measure} {self.change_pct:+.1f}% [{self.low_pct:+.1f}%, {self.high_pct:+.1f}%]"

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangeInterval:
        return cls(float(data["change_pct"]), float(data["low_pct"]), float(data["high_pct"]))


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """A finalist against the baseline on the holdout, paired per input, with its verdict.

    `cost_interval` and `latency_interval` are the changes of mean cost and p95 latency with their
    CIs, on which the guardrails are judged (None: unknown, e.g. replays that report no cost, or a
    result stored before the intervals were). `ci_level` is the intervals' confidence level: 0.95 on
    one look at the holdout, 0.975 on each of two (`pipeline.holdout_looks`)."""

    candidate_id: str
    n_inputs: int
    n_sessions: int
    mean_difference: float
    ci_low: float
    ci_high: float
    mde: float
    baseline_cost_usd: float
    candidate_cost_usd: float
    baseline_latency_p95_ms: float
    candidate_latency_p95_ms: float
    verdict: Verdict
    verdict_reason: str
    cost_interval: ChangeInterval | None
    latency_interval: ChangeInterval | None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    mcnemar: Mapping[str, float] = field(default_factory=dict)
    constraint_checks: tuple[ConstraintCheck, ...] = ()
    regressed_cluster_ids: tuple[str, ...] = ()
    ci_level: float = 0.95

    @property
    def cost_change_pct(self) -> float:
        if self.baseline_cost_usd <= 0:
            return 0.0 if self.candidate_cost_usd <= 0 else math.inf
        return 100.0 * (self.candidate_cost_usd - self.baseline_cost_usd) / self.baseline_cost_usd

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationResult:
        return cls(
            candidate_id=str(data["candidate_id"]),
            n_inputs=int(data["n_inputs"]),
            n_sessions=int(data["n_sessions"]),
            mean_difference=float(data["mean_difference"]),
            ci_low=float(data["ci_low"]),
            ci_high=float(data["ci_high"]),
            mde=float(data["mde"]),
            baseline_cost_usd=float(data["baseline_cost_usd"]),
            candidate_cost_usd=float(data["candidate_cost_usd"]),
            baseline_latency_p95_ms=float(data["baseline_latency_p95_ms"]),
            candidate_latency_p95_ms=float(data["candidate_latency_p95_ms"]),
            verdict=Verdict(data["verdict"]),
            verdict_reason=str(data.get("verdict_reason") or ""),
            cost_interval=_opt_interval(data.get("cost_interval")),
            latency_interval=_opt_interval(data.get("latency_interval")),
            p_value=_opt_float(data.get("p_value")),
            p_value_adjusted=_opt_float(data.get("p_value_adjusted")),
            mcnemar={str(k): float(v) for k, v in (data.get("mcnemar") or {}).items()},
            constraint_checks=tuple(
                ConstraintCheck.from_dict(item) for item in data.get("constraint_checks") or ()
            ),
            regressed_cluster_ids=tuple(str(item) for item in data.get("regressed_cluster_ids") or ()),
            ci_level=float(data.get("ci_level") or 0.95),
        )


# --------------------------------------------------------------------------------------------------
# Scan configuration and report


DEFAULT_STRATEGIES: tuple[Strategy, ...] = (Strategy.PLAYBOOK, Strategy.FEW_SHOT, Strategy.MODEL_ROUTING)


# A workspace's guardrails when it sets none: the platform's `Guardrails` and a `ScanConfig` built
# without them are judged by the same bars.
DEFAULT_MIN_HOLDOUT_GAIN = 0.02
DEFAULT_MAX_COST_INCREASE_PCT = 10.0
DEFAULT_MAX_LATENCY_INCREASE_PCT = 10.0


@dataclass(frozen=True, slots=True)
class ScanConfig:
    """How a scan runs. Guardrails (`min_holdout_gain`, `max_*_increase_pct`) come from the workspace's
    autonomy settings; `non_inferiority_margin` is in quality units and applies only to changes that
    lower cost or p95 latency by at least `material_saving_pct` percent."""

    seed: int = 0
    holdout_fraction: float = 0.3
    strategies: tuple[Strategy, ...] = DEFAULT_STRATEGIES
    budget_usd: float = 0.0
    min_holdout_gain: float = DEFAULT_MIN_HOLDOUT_GAIN
    max_cost_increase_pct: float = DEFAULT_MAX_COST_INCREASE_PCT
    max_latency_increase_pct: float = DEFAULT_MAX_LATENCY_INCREASE_PCT
    material_saving_pct: float = 10.0
    non_inferiority_margin: float = 0.01
    alpha: float = 0.05
    bootstrap_resamples: int = 2000
    max_clusters: int = 8
    min_cluster_size: int = 5
    max_candidates: int = 24
    max_finalists: int = 12
    minibatch_size: int = 64
    few_shot_k: int = 3
    pilot_size: int = 16
    search_final_size: int = 192
    max_validation_inputs: int = 300
    """Holdout inputs of validation's first look (`pipeline.holdout_looks`)."""
    second_look_inputs: int = 1200
    """Holdout inputs of the second look, for a finalist the first leaves inconclusive; no second
    look when it is not half as many again as the first's."""
    replay_budget_calls: int = 0
    """Replays of the agent a scan may make; 0 = sized from the trace count (`ReplayBudget.for_traces`)."""
    replay_budget_usd: float = 0.0
    """The agent's own spend on replays (its reported `cost_usd`); 0 = sized from the trace count."""

    def __post_init__(self) -> None:
        if not (0.0 < self.holdout_fraction < 1.0):
            raise InvalidRubricError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        if self.bootstrap_resamples < 1000:
            raise InvalidRubricError("bootstrap_resamples must be >= 1000")
        if not (0.0 < self.alpha < 1.0):
            raise InvalidRubricError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.budget_usd < 0:
            raise InvalidRubricError("budget_usd must be >= 0")
        if self.replay_budget_calls < 0 or self.replay_budget_usd < 0:
            raise InvalidRubricError("replay budgets must be >= 0")

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScanConfig:
        defaults = cls()
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data or data[f.name] is None:
                continue
            raw = data[f.name]
            if f.name == "strategies":
                values[f.name] = tuple(Strategy(item) for item in raw)
            else:
                values[f.name] = type(getattr(defaults, f.name))(raw)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ProposedChange:
    """A change set as the report presents it: the diff, why, the evidence and the figures."""

    candidate: Candidate
    verdict: Verdict
    rationale: str
    evidence_trace_ids: tuple[str, ...] = ()
    experiment: ExperimentResult | None = None
    validation: ValidationResult | None = None
    expected_objective_gain: float | None = None
    expected_cost_change_pct: float | None = None
    predicted_cost_change_pct: float | None = None
    """The proposer's trace-based cost prediction, shown beside the measured change."""

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProposedChange:
        experiment = data.get("experiment")
        validation = data.get("validation")
        return cls(
            candidate=Candidate.from_dict(data["candidate"]),
            verdict=Verdict(data["verdict"]),
            rationale=str(data.get("rationale") or ""),
            evidence_trace_ids=tuple(str(item) for item in data.get("evidence_trace_ids") or ()),
            experiment=None if experiment is None else ExperimentResult.from_dict(experiment),
            validation=None if validation is None else ValidationResult.from_dict(validation),
            expected_objective_gain=_opt_float(data.get("expected_objective_gain")),
            expected_cost_change_pct=_opt_float(data.get("expected_cost_change_pct")),
            predicted_cost_change_pct=_opt_float(data.get("predicted_cost_change_pct")),
        )


@dataclass(frozen=True, slots=True)
class CostEntry:
    """One line of the scan's cost ledger (per model)."""

    model: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostEntry:
        return cls(
            model=str(data["model"]),
            calls=int(data.get("calls", 0)),
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            cost_usd=float(data.get("cost_usd", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class ReplayUsage:
    """What a scan's replays of the agent used against their budget (None = no limit)."""

    calls: int = 0
    cost_usd: float = 0.0
    budget_calls: int | None = None
    budget_usd: float | None = None
    stopped_by_budget: bool = False

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplayUsage:
        calls = data.get("budget_calls")
        return cls(
            calls=int(data.get("calls", 0)),
            cost_usd=float(data.get("cost_usd", 0.0)),
            budget_calls=None if calls is None else int(calls),
            budget_usd=_opt_float(data.get("budget_usd")),
            stopped_by_budget=bool(data.get("stopped_by_budget", False)),
        )


@dataclass(frozen=True, slots=True)
class ScanReport:
    """Everything a scan concluded; `report.report_json` renders it canonically (byte-identical)."""

    config: ScanConfig
    baseline: AgentConfig
    n_traces: int
    n_analysis: int
    n_holdout: int
    n_failing: int
    baseline_objective: float | None
    clusters: tuple[Cluster, ...] = ()
    changes: tuple[ProposedChange, ...] = ()
    cost_ledger: tuple[CostEntry, ...] = ()
    notes: tuple[str, ...] = ()
    unscored_dimensions: tuple[str, ...] = ()
    replay: ReplayUsage = field(default_factory=ReplayUsage)

    def to_dict(self) -> JSONDict:
        return _fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScanReport:
        return cls(
            config=ScanConfig.from_dict(data["config"]),
            baseline=AgentConfig.from_dict(data["baseline"]),
            n_traces=int(data["n_traces"]),
            n_analysis=int(data["n_analysis"]),
            n_holdout=int(data["n_holdout"]),
            n_failing=int(data["n_failing"]),
            baseline_objective=_opt_float(data.get("baseline_objective")),
            clusters=tuple(Cluster.from_dict(item) for item in data.get("clusters") or ()),
            changes=tuple(ProposedChange.from_dict(item) for item in data.get("changes") or ()),
            cost_ledger=tuple(CostEntry.from_dict(item) for item in data.get("cost_ledger") or ()),
            notes=tuple(str(item) for item in data.get("notes") or ()),
            unscored_dimensions=tuple(str(item) for item in data.get("unscored_dimensions") or ()),
            replay=ReplayUsage.from_dict(data.get("replay") or {}),
        )
