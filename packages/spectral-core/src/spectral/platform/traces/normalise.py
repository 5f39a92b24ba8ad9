"""The one normaliser: an OTLP span (decoded from protobuf, OTLP/JSON or Spectral's native JSON)
in, a `NormalisedSpan` out — the same row whichever convention the instrumentation followed.

Conventions understood (first match wins, in the order listed for each field):
- OpenTelemetry GenAI semantic conventions: `gen_ai.operation.name`, `gen_ai.provider.name` /
  `gen_ai.system`, `gen_ai.request.model` / `gen_ai.response.model`, `gen_ai.usage.*_tokens`,
  `gen_ai.response.finish_reasons`, `gen_ai.agent.name`, `gen_ai.tool.name`,
  `gen_ai.conversation.id`, messages as `gen_ai.input.messages` / `gen_ai.output.messages` /
  `gen_ai.system_instructions` attributes or as span events (`gen_ai.user.message`, …,
  `gen_ai.choice`, `gen_ai.content.prompt` / `gen_ai.content.completion`,
  `gen_ai.client.inference.operation.details`).
- OpenInference: `openinference.span.kind`, `llm.model_name`, `llm.provider`, `llm.token_count.*`,
  `llm.cost.*`, `input.value` / `output.value`, `llm.input_messages.N.message.*`,
  `llm.output_messages.N.message.*`, `tool.name`, `session.id`.
- OpenLLMetry (Traceloop): `traceloop.span.kind`, `traceloop.entity.input` / `.output`,
  `llm.request.type`, `gen_ai.usage.prompt_tokens` / `completion_tokens`, `llm.usage.total_tokens`,
  `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`.
- Spectral's own: `spectral.agent.id`, `spectral.agent.name`, `spectral.agent.version`,
  `spectral.cost_usd`.

Message contents and input/output values move into their own columns; every other attribute is
kept as sent. A span that cannot be stored (bad ids, bad timestamps) raises `SpanRejected`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any, NamedTuple

import orjson

from spectral.platform.models.pricing import PriceCatalog
from spectral.platform.traces.bounds import check_resource_bounds, check_span_bounds
from spectral.platform.traces.errors import SpanRejected

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# datetime's range ends in the year 9999; anything later is not a timestamp.
_MAX_UNIX_NANO = 253_402_300_799 * 1_000_000_000
_HEX_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_HEX_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_ZERO_TRACE_ID = "0" * 32
_ZERO_SPAN_ID = "0" * 16

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")


class AgentSource(IntEnum):
    """Where a span's agent key came from; lower wins when a trace's spans disagree."""

    SPECTRAL_ATTRIBUTE = 1
    GEN_AI_AGENT = 2
    SERVICE_NAME = 3


@dataclass(frozen=True, slots=True)
class Resource:
    """The resource every span of one OTLP `ResourceSpans` shares, digested once."""

    attributes: dict[str, Any]
    service_name: str | None
    agent_key: str | None
    agent_source: AgentSource | None
    agent_version: str | None

    @classmethod
    def of(cls, attributes: dict[str, Any]) -> Resource:
        """The resource's digest; `SpanRejected` (for every span it carries) past the bounds."""
        check_resource_bounds(attributes)
        service = _str(attributes.get("service.name"))
        key = _str(attributes.get("spectral.agent.id")) or _str(attributes.get("spectral.agent.name"))
        source: AgentSource | None = AgentSource.SPECTRAL_ATTRIBUTE if key else None
        if key is None and service and not service.startswith("unknown_service"):
            key, source = service, AgentSource.SERVICE_NAME
        return cls(
            attributes=attributes,
            service_name=service,
            agent_key=key,
            agent_source=source,
            agent_version=_str(attributes.get("spectral.agent.version")),
        )


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_unix_nano: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class NormalisedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    span_kind: str
    service_name: str | None
    scope_name: str | None
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status: str
    status_message: str | None
    error_type: str | None
    error_message: str | None
    model: str | None
    provider: str | None
    operation: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    cost_estimated: bool
    finish_reason: str | None
    tool_name: str | None
    agent_key: str | None
    agent_source: int | None
    agent_version: str | None
    session_id: str | None
    input_text: str | None
    output_text: str | None
    input_messages: list[dict[str, Any]] | None
    output_messages: list[dict[str, Any]] | None
    attributes: dict[str, Any]
    resource_attributes: dict[str, Any]
    events: list[dict[str, Any]] | None
    links: list[dict[str, Any]] | None
    # The JSON columns as stored, when the normaliser made them (it needs them for the bounds).
    json_columns: SpanJson | None = None


class SpanJson(NamedTuple):
    """A span's JSON columns as the JSON text they are stored as."""

    input_messages: str | None
    output_messages: str | None
    attributes: str | None
    events: str | None
    links: str | None

    @classmethod
    def of(cls, span: NormalisedSpan) -> SpanJson:
        if span.json_columns is not None:
            return span.json_columns
        values = (span.input_messages, span.output_messages, span.attributes, span.events, span.links)
        return cls._make(json_text(value) for value in values)


def _json_text(value: Any) -> str | None:
    """`value` as JSON, every character of its strings kept (the bounds count them)."""
    if value is None:
        return None
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # integers beyond 64 bits, which only the standard encoder writes
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def storable_json(text: str | None) -> str | None:
    """JSON text for a jsonb column: PostgreSQL refuses the NUL character even escaped."""
    return text.replace("\\u0000", "") if text is not None and "\\u0000" in text else text


def json_text(value: Any) -> str | None:
    """`value` as JSON text for a jsonb column."""
    return storable_json(_json_text(value))


# ------------------------------------------------------------------------------------------------
# Attribute keys. Content keys move into message/input/output columns and leave `attributes`.

_CONTENT_KEYS = frozenset(
    {
        "input.value",
        "output.value",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.prompt",
        "gen_ai.completion",
        "traceloop.entity.input",
        "traceloop.entity.output",
    }
)
# Flattened message lists: `<prefix><index>.<field>`.
_OPENLLMETRY_PROMPT = "gen_ai.prompt."
_OPENLLMETRY_COMPLETION = "gen_ai.completion."
_OPENINFERENCE_INPUT = "llm.input_messages."
_OPENINFERENCE_OUTPUT = "llm.output_messages."
_INDEXED_PREFIXES = (
    _OPENLLMETRY_PROMPT,
    _OPENLLMETRY_COMPLETION,
    _OPENINFERENCE_INPUT,
    _OPENINFERENCE_OUTPUT,
)

# Scalar fields and the keys that carry them, first = preferred. The attribute walk looks every key
# up once in `_FIELD_OF_KEY` instead of probing each field's keys in turn.
_SCALAR_FIELDS: dict[str, tuple[str, ...]] = {
    "operation": ("gen_ai.operation.name", "llm.request.type"),
    "model": ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name"),
    "tool_name": ("gen_ai.tool.name", "tool.name"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "total_tokens": ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total"),
    "cost": ("spectral.cost_usd", "gen_ai.usage.cost", "llm.cost.total"),
    "prompt_cost": ("llm.cost.prompt",),
    "completion_cost": ("llm.cost.completion",),
    "finish_reasons": ("gen_ai.response.finish_reasons",),
    "spectral_agent": ("spectral.agent.id", "spectral.agent.name"),
    "genai_agent": ("gen_ai.agent.name", "gen_ai.agent.id"),
    "agent_version": ("spectral.agent.version",),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "session": ("gen_ai.conversation.id", "session.id", "traceloop.association.properties.session_id"),
    "error_type": ("error.type",),
    "openinference_kind": ("openinference.span.kind",),
    "traceloop_kind": ("traceloop.span.kind",),
    "traceloop_entity": ("traceloop.entity.name",),
}
_FIELD_OF_KEY: dict[str, tuple[str, int]] = {
    key: (field, rank) for field, keys in _SCALAR_FIELDS.items() for rank, key in enumerate(keys)
}

_OPENINFERENCE_KINDS = {
    "LLM": "llm",
    "CHAIN": "chain",
    "TOOL": "tool",
    "AGENT": "agent",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
}
_TRACELOOP_KINDS = {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}
_OPERATION_KINDS = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "completion": "llm",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "retrieval": "retriever",
}

# Span events that carry messages (GenAI conventions, older and newer forms).
_ROLE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_CHOICE_EVENT = "gen_ai.choice"
_PROMPT_EVENT = "gen_ai.content.prompt"
_COMPLETION_EVENT = "gen_ai.content.completion"
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_MESSAGE_EVENTS = frozenset({*_ROLE_EVENTS, _CHOICE_EVENT, _PROMPT_EVENT, _COMPLETION_EVENT, _DETAILS_EVENT})


# ------------------------------------------------------------------------------------------------
# Small conversions


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return clean_text(value if isinstance(value, str) else str(value))


def clean_text(text: str) -> str:
    """PostgreSQL text and jsonb refuse NUL characters; drop them rather than fail a batch."""
    return text.replace("\x00", "") if "\x00" in text else text


# A token count or cost past these is not one (the attribute is still kept as sent): sums over a
# whole workspace's spans must stay inside BIGINT and double precision.
MAX_TOKEN_COUNT = 10**12
MAX_COST_USD = 10.0**9


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number <= MAX_TOKEN_COUNT else None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and 0 <= number <= MAX_COST_USD else None


def _json_value(value: Any) -> Any:
    """Structured content arrives as a JSON string (OTLP) or already parsed (native JSON)."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def _structured(value: Any) -> Any:
    """Content that may be a JSON list or object (multi-part content) or plain text."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        parsed = _json_value(value)
        return value if parsed is None else parsed
    return value


def hex_id(value: str | bytes, *, length: int) -> str | None:
    """A trace or span id as lower-case hex, from hex (OTLP/JSON) or bytes/base64 (protobuf JSON)."""
    if isinstance(value, bytes):
        return value.hex() if len(value) * 2 == length else None
    text = value.strip().lower()
    if len(text) == length:
        return text
    if value and len(value) == (length // 2 + 2) // 3 * 4:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        return raw.hex() if len(raw) * 2 == length else None
    return None


def _valid_trace_id(value: str) -> str:
    if _HEX_TRACE_ID.fullmatch(value) is None or value == _ZERO_TRACE_ID:
        raise SpanRejected(f"invalid trace id {value[:40]!r}: 32 hex digits, not all zero")
    return value


def _valid_span_id(value: str, what: str = "span id") -> str:
    if _HEX_SPAN_ID.fullmatch(value) is None or value == _ZERO_SPAN_ID:
        raise SpanRejected(f"invalid {what} {value[:40]!r}: 16 hex digits, not all zero")
    return value


def unix_nano_to_datetime(nanos: int) -> datetime:
    return _EPOCH + timedelta(microseconds=nanos // 1000)


def datetime_to_unix_nano(value: datetime) -> int:
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


# ------------------------------------------------------------------------------------------------
# Messages


def _content_text(content: Any) -> str:
    """Message content as text: a string, or the text parts of a multi-part content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return clean_text(content)
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("content", part.get("text"))
                if isinstance(text, str):
                    texts.append(text)
            elif isinstance(part, str):
                texts.append(part)
        return clean_text("\n".join(texts))
    if isinstance(content, dict):
        return _content_text(content.get("content", content.get("text")))
    return clean_text(str(content))


def _message(role: Any, content: Any, *, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": str(role or "user"), "content": _content_text(content)}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _tool_call(name: Any, arguments: Any) -> dict[str, Any]:
    parsed = _json_value(arguments) if arguments is not None else None
    return {"name": str(name or ""), "arguments": parsed if isinstance(parsed, dict) else {}}


def _semconv_messages(value: Any) -> tuple[list[dict[str, Any]], str | None]:
    """`gen_ai.input.messages` / `gen_ai.output.messages` (parts) or a plain `[{role, content}]` list,
    with the first finish reason found."""
    items = _json_value(value)
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return [], None
    messages: list[dict[str, Any]] = []
    finish: str | None = None
    for item in items:
        if not isinstance(item, dict):
            continue
        if finish is None and item.get("finish_reason"):
            finish = str(item["finish_reason"])
        nested = item.get("message")
        inner: Mapping[str, Any] = nested if isinstance(nested, dict) else item
        parts = inner.get("parts")
        calls: list[dict[str, Any]] = []
        if isinstance(parts, list):
            texts = [p for p in parts if isinstance(p, dict) and p.get("type", "text") == "text"]
            calls = [
                _tool_call(p.get("name"), p.get("arguments"))
                for p in parts
                if isinstance(p, dict) and p.get("type") == "tool_call"
            ]
            content: Any = texts
        else:
            content = inner.get("content")
            raw_calls = inner.get("tool_calls")
            if isinstance(raw_calls, list):
                for call in raw_calls:
                    if isinstance(call, dict):
                        function_field = call.get("function")
                        function = function_field if isinstance(function_field, dict) else call
                        calls.append(_tool_call(function.get("name"), function.get("arguments")))
        messages.append(_message(inner.get("role", "assistant"), content, tool_calls=calls))
    return messages, finish


def _indexed_messages(fields: dict[int, dict[str, Any]], *, openinference: bool) -> list[dict[str, Any]]:
    """Messages flattened into `<prefix>N.<field>` attributes (OpenLLMetry and OpenInference)."""
    messages = []
    for index in sorted(fields):
        entry = fields[index]
        if openinference:
            role = entry.get("message.role")
            content: Any = entry.get("message.content")
            if content is None:
                parts = sorted(
                    (key, value)
                    for key, value in entry.items()
                    if key.startswith("message.contents.") and key.endswith(".message_content.text")
                )
                content = "\n".join(str(value) for _, value in parts) if parts else None
            call_prefix, name_suffix, args_suffix = (
                "message.tool_calls.",
                ".tool_call.function.name",
                ".tool_call.function.arguments",
            )
        else:
            role = entry.get("role")
            content = entry.get("content")
            call_prefix, name_suffix, args_suffix = "tool_calls.", ".name", ".arguments"
        calls = [
            _tool_call(value, entry.get(key[: -len(name_suffix)] + args_suffix))
            for key, value in sorted(entry.items())
            if key.startswith(call_prefix) and key.endswith(name_suffix)
        ]
        messages.append(_message(role, content, tool_calls=calls))
    return messages


def _last_content(messages: list[dict[str, Any]] | None, role: str | None) -> str | None:
    if not messages:
        return None
    for message in reversed(messages):
        if role is None or message["role"] == role:
            return message["content"] or None
    return None


# ------------------------------------------------------------------------------------------------
# The normaliser


@dataclass(slots=True)
class _Content:
    """What a span says about its input and output, gathered from attributes and events."""

    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    input_value: Any = None
    output_value: Any = None
    finish_reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    # Scalar field -> its value, from the preferred key sent (see `_SCALAR_FIELDS`), and the rank of
    # that key.
    fields: dict[str, Any] = dataclass_field(default_factory=dict)
    ranks: dict[str, int] = dataclass_field(default_factory=dict)


def _split_attributes(attributes: dict[str, Any]) -> tuple[dict[str, Any], _Content]:
    """One pass over the attributes: content keys out, everything else kept."""
    kept: dict[str, Any] = {}
    content = _Content()
    prompt: dict[int, dict[str, Any]] = {}
    completion: dict[int, dict[str, Any]] = {}
    oi_input: dict[int, dict[str, Any]] = {}
    oi_output: dict[int, dict[str, Any]] = {}
    system_instructions: Any = None
    fields, ranks = content.fields, content.ranks
    for key, value in attributes.items():
        if key in _CONTENT_KEYS:
            if key == "input.value" or key == "traceloop.entity.input":
                content.input_value = content.input_value if content.input_value is not None else value
            elif key == "output.value" or key == "traceloop.entity.output":
                content.output_value = content.output_value if content.output_value is not None else value
            elif key == "gen_ai.input.messages" or key == "gen_ai.prompt":
                content.input_messages = _semconv_messages(value)[0]
            elif key == "gen_ai.output.messages" or key == "gen_ai.completion":
                content.output_messages, finish = _semconv_messages(value)
                content.finish_reason = content.finish_reason or finish
            else:
                system_instructions = value
            continue
        if key.startswith(_INDEXED_PREFIXES):
            if key.startswith(_OPENLLMETRY_PROMPT):
                target, rest = prompt, key[len(_OPENLLMETRY_PROMPT) :]
            elif key.startswith(_OPENLLMETRY_COMPLETION):
                target, rest = completion, key[len(_OPENLLMETRY_COMPLETION) :]
            elif key.startswith(_OPENINFERENCE_INPUT):
                target, rest = oi_input, key[len(_OPENINFERENCE_INPUT) :]
            else:
                target, rest = oi_output, key[len(_OPENINFERENCE_OUTPUT) :]
            index, _, field = rest.partition(".")
            if index.isdigit() and field:
                target.setdefault(int(index), {})[field] = value
                continue
        kept[key] = value
        slot = _FIELD_OF_KEY.get(key)
        if slot is not None and value is not None and value != "":
            field, rank = slot
            if rank < ranks.get(field, len(_FIELD_OF_KEY)):
                ranks[field] = rank
                fields[field] = value
    if content.input_messages is None and (prompt or oi_input):
        content.input_messages = _indexed_messages(oi_input, openinference=True) if oi_input else []
        content.input_messages += _indexed_messages(prompt, openinference=False)
    if content.output_messages is None and (completion or oi_output):
        content.output_messages = _indexed_messages(oi_output, openinference=True) if oi_output else []
        content.output_messages += _indexed_messages(completion, openinference=False)
        if completion and content.finish_reason is None:
            first = completion[min(completion)]
            content.finish_reason = _str(first.get("finish_reason"))
    if system_instructions is not None:
        parsed = _json_value(system_instructions)
        text = _content_text(parsed if parsed is not None else system_instructions)
        content.input_messages = [{"role": "system", "content": text}, *(content.input_messages or [])]
    return kept, content


def _read_events(events: list[SpanEvent], content: _Content) -> list[dict[str, Any]] | None:
    """Lift message events into `content`; return the events that stay events."""
    kept: list[dict[str, Any]] = []
    event_inputs: list[dict[str, Any]] = []
    event_outputs: list[dict[str, Any]] = []
    for event in events:
        attributes = event.attributes
        name = event.name
        if name in _MESSAGE_EVENTS:
            if name in _ROLE_EVENTS:
                calls = attributes.get("tool_calls")
                parsed_calls = _semconv_messages([{"role": "assistant", "tool_calls": _json_value(calls)}])[0]
                event_inputs.append(
                    _message(
                        attributes.get("role") or _ROLE_EVENTS[name],
                        _structured(attributes.get("content")),
                        tool_calls=parsed_calls[0].get("tool_calls") if calls is not None else None,
                    )
                )
            elif name == _CHOICE_EVENT:
                message = _json_value(attributes.get("message"))
                if isinstance(message, dict):
                    event_outputs.extend(_semconv_messages([message])[0])
                else:
                    event_outputs.append(_message("assistant", attributes.get("message.content", message)))
                content.finish_reason = content.finish_reason or _str(attributes.get("finish_reason"))
            elif name == _PROMPT_EVENT:
                event_inputs.extend(_semconv_messages(attributes.get("gen_ai.prompt"))[0])
            elif name == _COMPLETION_EVENT:
                messages, finish = _semconv_messages(attributes.get("gen_ai.completion"))
                event_outputs.extend(messages)
                content.finish_reason = content.finish_reason or finish
            else:
                event_inputs.extend(_semconv_messages(attributes.get("gen_ai.input.messages"))[0])
                messages, finish = _semconv_messages(attributes.get("gen_ai.output.messages"))
                event_outputs.extend(messages)
                content.finish_reason = content.finish_reason or finish
            continue
        if name == "exception":
            content.error_type = content.error_type or _str(attributes.get("exception.type"))
            content.error_message = content.error_message or _str(attributes.get("exception.message"))
        kept.append({"name": name, "time_unix_nano": event.time_unix_nano, "attributes": attributes})
    if event_inputs and content.input_messages is None:
        content.input_messages = event_inputs
    if event_outputs and content.output_messages is None:
        content.output_messages = event_outputs
    return kept or None


def _kind(content: _Content, operation: str | None, model: str | None, tool: str | None) -> str:
    openinference = content.fields.get("openinference_kind")
    if isinstance(openinference, str):
        return _OPENINFERENCE_KINDS.get(openinference.upper(), "other")
    traceloop = content.fields.get("traceloop_kind")
    if isinstance(traceloop, str):
        return _TRACELOOP_KINDS.get(traceloop.lower(), "other")
    if operation is not None:
        return _OPERATION_KINDS.get(operation.lower(), "other")
    if tool is not None:
        return "tool"
    if model is not None and "input_tokens" in content.fields:
        return "llm"
    return "other"


def _response_finish_reason(value: Any) -> str | None:
    """The finish reason of a provider response recorded whole as an LLM span's output: OpenInference
    has no attribute for it, its OpenAI and Anthropic instrumentations record the response JSON as
    `output.value` (`choices[0].finish_reason`, `stop_reason`)."""
    if isinstance(value, str):
        if not value.startswith("{"):
            return None
        value = _json_value(value)
    if not isinstance(value, dict):
        return None
    choices = value.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return _str(choices[0].get("finish_reason"))
    return _str(value.get("stop_reason"))


def _text_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return clean_text(value) or None
    return clean_text(json.dumps(value, default=str))


def normalise_span(
    *,
    trace_id: str,
    span_id: str,
    parent_span_id: str | None,
    name: str,
    span_kind: int,
    start_unix_nano: int,
    end_unix_nano: int,
    status_code: int,
    status_message: str | None,
    attributes: dict[str, Any],
    events: list[SpanEvent],
    links: list[dict[str, Any]] | None,
    resource: Resource,
    scope_name: str | None,
    catalog: PriceCatalog,
) -> NormalisedSpan:
    trace_id = _valid_trace_id(trace_id)
    span_id = _valid_span_id(span_id)
    parent = _valid_span_id(parent_span_id, "parent span id") if parent_span_id else None
    if start_unix_nano <= 0 or end_unix_nano <= 0:
        raise SpanRejected(f"span {span_id} has no start or end time")
    if end_unix_nano < start_unix_nano:
        raise SpanRejected(f"span {span_id} ends before it starts")
    if end_unix_nano > _MAX_UNIX_NANO:
        raise SpanRejected(f"span {span_id} has a timestamp beyond the year 9999")

    kept, content = _split_attributes(attributes)
    kept_events = _read_events(events, content) if events else None

    field = content.fields.get
    operation = _str(field("operation"))
    model = _str(field("model"))
    tool_name = _str(field("tool_name"))
    kind = _kind(content, operation, model, tool_name)
    if tool_name is None and kind == "tool":
        tool_name = _str(field("traceloop_entity")) or clean_text(name)

    input_tokens = _int(field("input_tokens"))
    output_tokens = _int(field("output_tokens"))
    total_tokens = _int(field("total_tokens"))
    if total_tokens is None and (input_tokens is not None or output_tokens is not None):
        total_tokens = (input_tokens or 0) + (output_tokens or 0)

    cost = _float(field("cost"))
    if cost is None:
        prompt_cost = _float(field("prompt_cost"))
        completion_cost = _float(field("completion_cost"))
        if prompt_cost is not None or completion_cost is not None:
            cost = (prompt_cost or 0.0) + (completion_cost or 0.0)
    estimated = False
    if cost is None and kind == "llm":
        cost = catalog.cost(model, input_tokens, output_tokens)
        estimated = cost is not None

    finish_reasons = field("finish_reasons")
    if isinstance(finish_reasons, list):
        finish_reason = _str(finish_reasons[0]) if finish_reasons else None
    else:
        finish_reason = _str(finish_reasons)
    finish_reason = finish_reason or content.finish_reason
    if finish_reason is None and kind == "llm":
        finish_reason = _response_finish_reason(content.output_value)

    agent_key = _str(field("spectral_agent"))
    agent_source: int | None = AgentSource.SPECTRAL_ATTRIBUTE if agent_key else None
    if agent_key is None and resource.agent_source is AgentSource.SPECTRAL_ATTRIBUTE:
        agent_key, agent_source = resource.agent_key, resource.agent_source
    if agent_key is None:
        agent_key = _str(field("genai_agent"))
        agent_source = AgentSource.GEN_AI_AGENT if agent_key else None
    if agent_key is None and resource.agent_key is not None:
        agent_key, agent_source = resource.agent_key, resource.agent_source

    status = STATUS_CODES[status_code] if 0 <= status_code < len(STATUS_CODES) else "unset"
    status_text = _str(status_message)
    error_type = _str(field("error_type")) or content.error_type
    error_message = content.error_message
    if status == "error":
        error_message = status_text or error_message
        error_type = error_type or "error"

    if kind == "llm":
        # An LLM call's messages say what it was asked and answered; its `input.value`/`output.value`
        # are what the instrumentation recorded, for OpenInference's OpenAI and Anthropic ones the
        # raw request and response JSON: a trace of that one call would be scored on the JSON.
        input_text = _last_content(content.input_messages, "user") or _text_value(content.input_value)
        output_text = _last_content(content.output_messages, None) or _text_value(content.output_value)
    else:
        input_text = _text_value(content.input_value) or _last_content(content.input_messages, "user")
        output_text = _text_value(content.output_value) or _last_content(content.output_messages, None)
    input_messages = content.input_messages or None
    output_messages = content.output_messages or None
    links = links or None
    made = (
        _json_text(input_messages),
        _json_text(output_messages),
        _json_text(kept),
        _json_text(kept_events),
        _json_text(links),
    )
    check_span_bounds(
        span_id,
        columns=(
            ("attributes", kept, made[2]),
            ("events", kept_events, made[3]),
            ("links", links, made[4]),
            ("messages", input_messages, made[0]),
            ("messages", output_messages, made[1]),
        ),
        texts=(input_text, output_text, status_text, name),
    )

    return NormalisedSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=clean_text(name),
        kind=kind,
        span_kind=SPAN_KINDS[span_kind] if 0 <= span_kind < len(SPAN_KINDS) else "unspecified",
        service_name=resource.service_name,
        scope_name=clean_text(scope_name) if scope_name else None,
        start_time=unix_nano_to_datetime(start_unix_nano),
        end_time=unix_nano_to_datetime(end_unix_nano),
        duration_ms=(end_unix_nano - start_unix_nano) / 1_000_000,
        status=status,
        status_message=status_text,
        error_type=error_type,
        error_message=error_message,
        model=model,
        provider=_str(field("provider")),
        operation=operation,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens,
        cost_usd=cost,
        cost_estimated=estimated,
        finish_reason=finish_reason,
        tool_name=tool_name,
        agent_key=agent_key,
        agent_source=agent_source,
        agent_version=_str(field("agent_version")) or resource.agent_version,
        session_id=_str(field("session")),
        input_text=input_text,
        output_text=output_text,
        input_messages=input_messages,
        output_messages=output_messages,
        attributes=kept,
        resource_attributes=resource.attributes,
        events=kept_events,
        links=links,
        json_columns=SpanJson._make(map(storable_json, made)),
    )


# ------------------------------------------------------------------------------------------------
# A decoded request

MAX_REJECTION_REASONS = 5


@dataclass(slots=True)
class ServiceCounts:
    received: int = 0
    accepted: int = 0
    rejected: int = 0


@dataclass(slots=True)
class IngestBatch:
    """The normalised spans of one request and what was rejected, counted per sending service."""

    spans: list[NormalisedSpan]
    by_service: dict[str, ServiceCounts]
    rejected: int = 0
    reasons: list[str] | None = None

    @classmethod
    def empty(cls) -> IngestBatch:
        return cls(spans=[], by_service={})

    def counts(self, service_name: str | None) -> ServiceCounts:
        key = service_name or ""
        counts = self.by_service.get(key)
        if counts is None:
            counts = self.by_service[key] = ServiceCounts()
        return counts

    def accept(self, span: NormalisedSpan, counts: ServiceCounts) -> None:
        self.spans.append(span)
        counts.received += 1
        counts.accepted += 1

    def reject(self, reason: str, counts: ServiceCounts) -> None:
        self.rejected += 1
        counts.received += 1
        counts.rejected += 1
        if self.reasons is None:
            self.reasons = []
        if len(self.reasons) < MAX_REJECTION_REASONS and reason not in self.reasons:
            self.reasons.append(reason)

    def refuse_started_before(self, cutoff: datetime, reason: str) -> None:
        """Refuse the accepted spans that start before `cutoff` (past the trace retention)."""
        kept = [span for span in self.spans if span.start_time >= cutoff]
        if len(kept) == len(self.spans):
            return
        for span in self.spans:
            if span.start_time < cutoff:
                counts = self.counts(span.service_name)
                counts.accepted -= 1
                counts.received -= 1
                self.reject(reason, counts)
        self.spans = kept

    @property
    def received(self) -> int:
        return len(self.spans) + self.rejected

    @property
    def rejection_message(self) -> str:
        if not self.rejected:
            return ""
        noun = "span" if self.rejected == 1 else "spans"
        return f"{self.rejected} {noun} rejected: " + "; ".join(self.reasons or [])
