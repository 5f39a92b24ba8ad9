"""OTLP/HTTP trace payloads: `ExportTraceServiceRequest` as protobuf or OTLP/JSON in, normalised
spans out; `ExportTraceServiceResponse` back in the request's encoding.

Both decoders walk the request once and hand each span straight to the normaliser: attributes are
converted to plain values once, with no intermediate copy of the request.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from spectral.platform.models.pricing import PriceCatalog
from spectral.platform.shared.errors import UnsupportedMediaTypeError
from spectral.platform.traces.errors import UndecodableTracesError
from spectral.platform.traces.normalise import (
    SPAN_KINDS,
    STATUS_CODES,
    IngestBatch,
    Resource,
    SpanEvent,
    SpanRejected,
    hex_id,
    normalise_span,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_MEDIA_TYPES = {PROTOBUF: PROTOBUF, "application/protobuf": PROTOBUF, JSON: JSON}

_SPAN_KIND_NAMES = {f"SPAN_KIND_{name.upper()}": index for index, name in enumerate(SPAN_KINDS)}
_STATUS_CODE_NAMES = {f"STATUS_CODE_{name.upper()}": index for index, name in enumerate(STATUS_CODES)}


def otlp_media_type(content_type: str | None) -> str:
    """`application/x-protobuf` or `application/json` (parameters such as charset ignored)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        return _MEDIA_TYPES[media_type]
    except KeyError:
        raise UnsupportedMediaTypeError(
            f"Content-Type {media_type or '(none)'!r} is not supported; send {PROTOBUF} or {JSON}"
        ) from None


# ------------------------------------------------------------------------------------------------
# Protobuf


def _pb_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        number = value.double_value
        # JSON (and PostgreSQL jsonb) has no NaN or infinity.
        return number if math.isfinite(number) else str(number)
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [_pb_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {item.key: _pb_value(item.value) for item in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def _pb_attributes(attributes: Iterable[Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for item in attributes:
        value = item.value
        # Most attributes are strings: read them without the general conversion's call.
        if value.WhichOneof("value") == "string_value":
            converted[item.key] = value.string_value
        else:
            converted[item.key] = _pb_value(value)
    return converted


def decode_protobuf(body: bytes, catalog: PriceCatalog) -> IngestBatch:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise UndecodableTracesError("The body is not a protobuf ExportTraceServiceRequest") from exc
    batch = IngestBatch.empty()
    for resource_spans in request.resource_spans:
        resource = Resource.of(_pb_attributes(resource_spans.resource.attributes))
        counts = batch.counts(resource.service_name)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                try:
                    normalised = normalise_span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        span_kind=span.kind,
                        start_unix_nano=span.start_time_unix_nano,
                        end_unix_nano=span.end_time_unix_nano,
                        status_code=span.status.code,
                        status_message=span.status.message,
                        attributes=_pb_attributes(span.attributes),
                        events=[
                            SpanEvent(event.name, event.time_unix_nano, _pb_attributes(event.attributes))
                            for event in span.events
                        ],
                        links=[
                            {
                                "trace_id": link.trace_id.hex(),
                                "span_id": link.span_id.hex(),
                                "attributes": _pb_attributes(link.attributes),
                            }
                            for link in span.links
                        ],
                        resource=resource,
                        scope_name=scope_name,
                        catalog=catalog,
                    )
                except SpanRejected as exc:
                    batch.reject(str(exc), counts)
                else:
                    batch.accept(normalised, counts)
    return batch


def encode_protobuf_response(batch: IngestBatch) -> bytes:
    response = ExportTraceServiceResponse()
    if batch.rejected:
        response.partial_success.rejected_spans = batch.rejected
        response.partial_success.error_message = batch.rejection_message
    return response.SerializeToString()


# ------------------------------------------------------------------------------------------------
# OTLP/JSON: hex ids, lowerCamelCase names, enums as numbers, 64-bit integers as strings.


def _json_value(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        number = float(value["doubleValue"])
        return number if math.isfinite(number) else str(number)
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_json_value(item) for item in (value["arrayValue"] or {}).get("values", ())]
    if "kvlistValue" in value:
        return _json_attributes((value["kvlistValue"] or {}).get("values", ()))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _json_attributes(attributes: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    if not attributes:
        return {}
    return {item["key"]: _json_value(item.get("value") or {}) for item in attributes}


def _enum(value: Any, names: Mapping[str, int]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return names.get(value, 0)
    return 0


def _json_id(value: Any, length: int) -> str:
    if not value:
        return ""
    if not isinstance(value, str):
        raise SpanRejected(f"id {value!r} is not a string")
    return hex_id(value, length=length) or value


def _json_span(
    span: Mapping[str, Any], resource: Resource, scope_name: str | None, catalog: PriceCatalog
) -> Any:
    try:
        status = span.get("status") or {}
        parent = _json_id(span.get("parentSpanId"), 16)
        return normalise_span(
            trace_id=_json_id(span.get("traceId"), 32),
            span_id=_json_id(span.get("spanId"), 16),
            parent_span_id=parent or None,
            name=str(span.get("name") or ""),
            span_kind=_enum(span.get("kind"), _SPAN_KIND_NAMES),
            start_unix_nano=int(span.get("startTimeUnixNano") or 0),
            end_unix_nano=int(span.get("endTimeUnixNano") or 0),
            status_code=_enum(status.get("code"), _STATUS_CODE_NAMES),
            status_message=status.get("message"),
            attributes=_json_attributes(span.get("attributes")),
            events=[
                SpanEvent(
                    str(event.get("name") or ""),
                    int(event.get("timeUnixNano") or 0),
                    _json_attributes(event.get("attributes")),
                )
                for event in span.get("events") or ()
            ],
            links=[
                {
                    "trace_id": _json_id(link.get("traceId"), 32),
                    "span_id": _json_id(link.get("spanId"), 16),
                    "attributes": _json_attributes(link.get("attributes")),
                }
                for link in span.get("links") or ()
            ],
            resource=resource,
            scope_name=scope_name,
            catalog=catalog,
        )
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        if isinstance(exc, SpanRejected):
            raise
        raise SpanRejected(f"malformed span {str(span.get('spanId', ''))[:40]!r}: {exc}") from exc


def decode_json(body: bytes, catalog: PriceCatalog) -> IngestBatch:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UndecodableTracesError("The body is not valid JSON") from exc
    if not isinstance(request, dict):
        raise UndecodableTracesError("An ExportTraceServiceRequest must be a JSON object")
    batch = IngestBatch.empty()
    try:
        for resource_spans in request.get("resourceSpans") or ():
            resource = Resource.of(_json_attributes((resource_spans.get("resource") or {}).get("attributes")))
            counts = batch.counts(resource.service_name)
            for scope_spans in resource_spans.get("scopeSpans") or ():
                scope_name = (scope_spans.get("scope") or {}).get("name")
                for span in scope_spans.get("spans") or ():
                    try:
                        normalised = _json_span(span, resource, scope_name, catalog)
                    except SpanRejected as exc:
                        batch.reject(str(exc), counts)
                    else:
                        batch.accept(normalised, counts)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise UndecodableTracesError(
            f"The body is not an OTLP/JSON ExportTraceServiceRequest: {exc}"
        ) from exc
    return batch


def encode_json_response(batch: IngestBatch) -> bytes:
    if not batch.rejected:
        return b"{}"
    return orjson.dumps(
        {"partialSuccess": {"rejectedSpans": str(batch.rejected), "errorMessage": batch.rejection_message}}
    )
