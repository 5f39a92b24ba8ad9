"""Builders of OTLP requests for tests: OTLP/JSON dicts (hex ids, lowerCamelCase, int64 as strings)
and the same request as protobuf bytes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

NOW_NS = time.time_ns()


def trace_id() -> str:
    return secrets.token_hex(16)


def span_id() -> str:
    return secrets.token_hex(8)


def any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": attributes(value)}}
    return {"stringValue": str(value)}


def attributes(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value(value)} for key, value in values.items()]


def span(
    trace: str,
    span_id_: str | None = None,
    *,
    parent: str | None = None,
    name: str = "chat gpt-4o",
    start_ms: float = 0,
    duration_ms: float = 100,
    attrs: Mapping[str, Any] | None = None,
    events: Iterable[tuple[str, Mapping[str, Any]]] = (),
    status_code: int = 0,
    status_message: str = "",
    kind: int = 1,
) -> dict[str, Any]:
    start = NOW_NS + int(start_ms * 1_000_000)
    end = start + int(duration_ms * 1_000_000)
    body: dict[str, Any] = {
        "traceId": trace,
        "spanId": span_id_ or span_id(),
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": attributes(attrs or {}),
        "events": [
            {"name": event_name, "timeUnixNano": str(start), "attributes": attributes(event_attrs)}
            for event_name, event_attrs in events
        ],
        "status": {"code": status_code, "message": status_message} if status_code else {},
    }
    if parent:
        body["parentSpanId"] = parent
    return body


def request(
    spans: Iterable[dict[str, Any]], *, service: str | None = "support-bot", **resource: Any
) -> dict[str, Any]:
    resource_attributes = dict(resource)
    if service is not None:
        resource_attributes["service.name"] = service
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes(resource_attributes)},
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
            }
        ]
    }


def _to_any_value(value: Mapping[str, Any], target: AnyValue) -> None:
    if "stringValue" in value:
        target.string_value = value["stringValue"]
    elif "intValue" in value:
        target.int_value = int(value["intValue"])
    elif "doubleValue" in value:
        target.double_value = value["doubleValue"]
    elif "boolValue" in value:
        target.bool_value = value["boolValue"]
    elif "arrayValue" in value:
        for item in value["arrayValue"]["values"]:
            _to_any_value(item, target.array_value.values.add())
    elif "kvlistValue" in value:
        _to_key_values(value["kvlistValue"]["values"], target.kvlist_value.values)
    else:
        raise ValueError(value)


def _to_key_values(items: Iterable[Mapping[str, Any]], target: Any) -> None:
    for item in items:
        key_value: KeyValue = target.add()
        key_value.key = item["key"]
        _to_any_value(item["value"], key_value.value)


def to_protobuf(body: Mapping[str, Any]) -> bytes:
    """The same ExportTraceServiceRequest as protobuf bytes (ids from hex to bytes)."""
    message = ExportTraceServiceRequest()
    for resource_spans in body["resourceSpans"]:
        rs = message.resource_spans.add()
        _to_key_values(resource_spans["resource"]["attributes"], rs.resource.attributes)
        for scope_spans in resource_spans["scopeSpans"]:
            ss = rs.scope_spans.add()
            ss.scope.name = scope_spans["scope"]["name"]
            for item in scope_spans["spans"]:
                s = ss.spans.add()
                s.trace_id = bytes.fromhex(item["traceId"])
                s.span_id = bytes.fromhex(item["spanId"])
                if item.get("parentSpanId"):
                    s.parent_span_id = bytes.fromhex(item["parentSpanId"])
                s.name = item["name"]
                s.kind = item["kind"]
                s.start_time_unix_nano = int(item["startTimeUnixNano"])
                s.end_time_unix_nano = int(item["endTimeUnixNano"])
                _to_key_values(item["attributes"], s.attributes)
                for event in item["events"]:
                    e = s.events.add()
                    e.name = event["name"]
                    e.time_unix_nano = int(event["timeUnixNano"])
                    _to_key_values(event["attributes"], e.attributes)
                if item["status"]:
                    s.status.code = item["status"]["code"]
                    s.status.message = item["status"]["message"]
    return message.SerializeToString()


# The same LLM call in each convention: model gpt-4o, 1200 tokens in, 300 out, one exchange.
GENAI_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.input.messages": '[{"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},'
    ' {"role": "user", "parts": [{"type": "text", "content": "Is the sky green?"}]}]',
    "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "No, it is blue."}],'
    ' "finish_reason": "stop"}]',
}
OPENINFERENCE_ATTRIBUTES = {
    "openinference.span.kind": "LLM",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-2024-08-06",
    "llm.token_count.prompt": 1200,
    "llm.token_count.completion": 300,
    "llm.token_count.total": 1500,
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Be brief.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "Is the sky green?",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "No, it is blue.",
}
OPENLLMETRY_ATTRIBUTES = {
    "llm.request.type": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.prompt_tokens": 1200,
    "gen_ai.usage.completion_tokens": 300,
    "llm.usage.total_tokens": 1500,
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": "Be brief.",
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": "Is the sky green?",
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.content": "No, it is blue.",
    "gen_ai.completion.0.finish_reason": "stop",
}
# gpt-4o: $2.50 / $10.00 per 1M tokens.
EXPECTED_COST = (1200 * 2.5 + 300 * 10.0) / 1_000_000
