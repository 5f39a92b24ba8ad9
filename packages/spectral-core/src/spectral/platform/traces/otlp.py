"""OTLP/HTTP trace payloads: `ExportTraceServiceRequest` as protobuf or OTLP/JSON in, normalised
spans out; `ExportTraceServiceResponse` back in the request's encoding.

Both decoders walk the request once and hand each span straight to the normaliser: attributes are
converted to plain values once, with no intermediate copy of the request.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
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
from spectral.platform.traces.bounds import check_depth
from spectral.platform.traces.errors import UndecodableTracesError
from spectral.platform.traces.normalise import (
    SPAN_KINDS,
    STATUS_CODES,
    IngestBatch,
    NormalisedSpan,
    Resource,
    SpanEvent,
    SpanRejected,
    normalise_span,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_MEDIA_TYPES = {PROTOBUF: PROTOBUF, "application/protobuf": PROTOBUF, JSON: JSON}

_SPAN_KIND_NAMES = {f"SPAN_KIND_{name.upper()}": index for index, name in enumerate(SPAN_KINDS)}
_STATUS_CODE_NAMES = {f"STATUS_CODE_{name.upper()}": index for index, name in enumerate(STATUS_CODES)}
_HEX = re.compile(r"[0-9a-f]+")


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


def _pb_value(value: Any, depth: int = 0) -> Any:
    """An AnyValue as a plain value; `depth` counts the arrays and maps it is nested in."""
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
        check_depth(depth + 1)
        return [_pb_value(item, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        check_depth(depth + 1)
        return {item.key: _pb_value(item.value, depth + 1) for item in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def _pb_attributes(attributes: Iterable[Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for item in attributes:
        value = item.value
        # Most attributes are non-empty strings: read them without asking which value is set.
        text = value.string_value
        if text or value.WhichOneof("value") == "string_value":
            converted[item.key] = text
        else:
            converted[item.key] = _pb_value(value)
    return converted


def _pb_enum(value: int, names: tuple[str, ...], what: str) -> int:
    """Proto3 keeps enum numbers it does not know; a span with one is rejected, not guessed at."""
    if 0 <= value < len(names):
        return value
    raise SpanRejected(f"unknown {what} {value}")


def decode_protobuf(body: bytes, catalog: PriceCatalog) -> IngestBatch:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise UndecodableTracesError("The body is not a protobuf ExportTraceServiceRequest") from exc
    batch = IngestBatch.empty()
    for resource_spans in request.resource_spans:
        try:
            resource = Resource.of(_pb_attributes(resource_spans.resource.attributes))
        except SpanRejected as exc:
            # A resource that cannot be read rejects every span it carries, each counted.
            counts = batch.counts(None)
            for scope_spans in resource_spans.scope_spans:
                for _span in scope_spans.spans:
                    batch.reject(f"resource attributes: {exc}", counts)
            continue
        counts = batch.counts(resource.service_name)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                status = span.status
                try:
                    normalised = normalise_span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        span_kind=_pb_enum(span.kind, SPAN_KINDS, "span kind"),
                        start_unix_nano=span.start_time_unix_nano,
                        end_unix_nano=span.end_time_unix_nano,
                        status_code=_pb_enum(status.code, STATUS_CODES, "status code"),
                        status_message=status.message,
                        attributes=_pb_attributes(span.attributes),
                        events=[
                            SpanEvent(event.name, event.time_unix_nano, _pb_attributes(event.attributes))
                            for event in span.events
                        ]
                        if span.events
                        else [],
                        links=[
                            {
                                "trace_id": link.trace_id.hex(),
                                "span_id": link.span_id.hex(),
                                "attributes": _pb_attributes(link.attributes),
                            }
                            for link in span.links
                        ]
                        if span.links
                        else None,
                        resource=resource,
                        scope_name=scope_name,
                        catalog=catalog,
                    )
                except SpanRejected as exc:
                    batch.reject(naming_span(str(exc), span.span_id.hex()), counts)
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
# OTLP/JSON: hex ids, enums as numbers or names, 64-bit integers as numbers or strings, and, as the
# proto3 JSON mapping requires of parsers, every field under its lowerCamelCase JSON name or its
# original proto name (`resourceSpans` or `resource_spans`, `traceId` or `trace_id`, ...).
#
# What cannot be read is never dropped in silence: a span with a bad id, enum, time or value is
# rejected and counted in partialSuccess with the reason; a body whose structure above the spans
# is not an ExportTraceServiceRequest is 400, and nothing of it is stored.


class _NotOtlp(Exception):
    """The structure above the spans is not an ExportTraceServiceRequest: the whole request is 400."""


def _field(message: Mapping[str, Any], json_name: str, proto_name: str) -> Any:
    value = message.get(json_name)
    return message.get(proto_name) if value is None else value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpanRejected(f"{what} must be a JSON array")
    return value


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpanRejected(f"{what} must be a JSON object")
    return value


_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def _int64(value: Any, what: str) -> int:
    """A (u)int64 field: a JSON number or a decimal string, as proto3 JSON allows both."""
    if value is None:
        return 0
    number: int | None = None
    digits = isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit()
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (digits and len(value) <= 21) or (isinstance(value, float) and value.is_integer()):
        number = int(value)
    if number is None and not digits:
        raise SpanRejected(f"{what} {str(value)[:40]!r} is not an integer")
    if number is None or not _INT64_MIN <= number <= _UINT64_MAX:
        # A longer string of digits is not converted at all: it is out of range either way.
        raise SpanRejected(f"{what} {str(value)[:40]!r} is out of the 64-bit range")
    return number


_SPECIAL_DOUBLES = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}


def _double(value: Any) -> float | str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and value in _SPECIAL_DOUBLES:
        return _SPECIAL_DOUBLES[value]
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise SpanRejected(f"doubleValue {value[:40]!r} is not a number") from None
    else:
        raise SpanRejected(f"doubleValue {str(value)[:40]!r} is not a number")
    # JSON (and PostgreSQL jsonb) has no NaN or infinity.
    return number if math.isfinite(number) else str(number)


def _json_value(value: Any, depth: int) -> Any:
    """An AnyValue as a plain value; `depth` counts the arrays and maps it is nested in."""
    if not isinstance(value, dict):
        raise SpanRejected("an attribute value must be an AnyValue object")
    if not value:
        return None
    found = _field(value, "stringValue", "string_value")
    if found is not None:
        if not isinstance(found, str):
            raise SpanRejected("stringValue must be a string")
        return found
    found = _field(value, "intValue", "int_value")
    if found is not None:
        return _int64(found, "intValue")
    found = _field(value, "doubleValue", "double_value")
    if found is not None:
        return _double(found)
    found = _field(value, "boolValue", "bool_value")
    if found is not None:
        if not isinstance(found, bool):
            raise SpanRejected("boolValue must be true or false")
        return found
    found = _field(value, "arrayValue", "array_value")
    if found is not None:
        check_depth(depth + 1)
        values = _list(_object(found, "arrayValue").get("values"), "arrayValue.values")
        return [_json_value(item, depth + 1) for item in values]
    found = _field(value, "kvlistValue", "kvlist_value")
    if found is not None:
        check_depth(depth + 1)
        return _json_attributes(_object(found, "kvlistValue").get("values"), depth + 1)
    found = _field(value, "bytesValue", "bytes_value")
    if found is not None:
        if not isinstance(found, str):
            raise SpanRejected("bytesValue must be a base64 string")
        try:
            base64.b64decode(found, validate=True)
        except (binascii.Error, ValueError):
            raise SpanRejected(f"bytesValue {found[:40]!r} is not base64") from None
        return found
    raise SpanRejected(f"an AnyValue with no value of a known type: {sorted(value)[:5]}")


def _json_attributes(attributes: Any, depth: int = 0) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for item in _list(attributes, "attributes"):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise SpanRejected("an attribute must be an object with a string key")
        converted[item["key"]] = _json_value(item.get("value") or {}, depth)
    return converted


def _enum(value: Any, names: Mapping[str, int], what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    if isinstance(value, str) and value in names:
        return names[value]
    raise SpanRejected(f"unknown {what} {repr(value)[:40]}")


def _json_id(value: Any, length: int, what: str, *, required: bool = True) -> str:
    """An id as the OTLP/JSON encoding sends it: hex of exactly `length` digits (any case)."""
    if value is None or value == "":
        if required:
            raise SpanRejected(f"missing {what}")
        return ""
    if not isinstance(value, str) or len(value) != length:
        raise SpanRejected(f"{what} {str(value)[:40]!r} is not {length} hex digits")
    text = value.lower()
    if not _HEX.fullmatch(text):
        raise SpanRejected(f"{what} {value[:40]!r} is not {length} hex digits")
    return text


def _string(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SpanRejected(f"{what} must be a string")
    return value


def _json_span(
    span: Any, resource: Resource, scope_name: str | None, catalog: PriceCatalog
) -> NormalisedSpan:
    if not isinstance(span, dict):
        raise SpanRejected("a span must be a JSON object")
    status = _object(span.get("status"), "status")
    span_id = _json_id(_field(span, "spanId", "span_id"), 16, "span id")
    events = []
    for event in _list(span.get("events"), "events"):
        event = _object(event, "an event")
        events.append(
            SpanEvent(
                _string(event.get("name"), "event name"),
                _int64(_field(event, "timeUnixNano", "time_unix_nano"), "event timeUnixNano"),
                _json_attributes(event.get("attributes")),
            )
        )
    links = []
    for link in _list(span.get("links"), "links"):
        link = _object(link, "a link")
        links.append(
            {
                "trace_id": _json_id(_field(link, "traceId", "trace_id"), 32, "link trace id"),
                "span_id": _json_id(_field(link, "spanId", "span_id"), 16, "link span id"),
                "attributes": _json_attributes(link.get("attributes")),
            }
        )
    return normalise_span(
        trace_id=_json_id(_field(span, "traceId", "trace_id"), 32, "trace id"),
        span_id=span_id,
        parent_span_id=_json_id(
            _field(span, "parentSpanId", "parent_span_id"), 16, "parent span id", required=False
        )
        or None,
        name=_string(span.get("name"), "span name"),
        span_kind=_enum(span.get("kind"), _SPAN_KIND_NAMES, "span kind"),
        start_unix_nano=_int64(
            _field(span, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano"
        ),
        end_unix_nano=_int64(_field(span, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano"),
        status_code=_enum(status.get("code"), _STATUS_CODE_NAMES, "status code"),
        status_message=_string(status.get("message"), "status message"),
        attributes=_json_attributes(span.get("attributes")),
        events=events,
        links=links,
        resource=resource,
        scope_name=scope_name,
        catalog=catalog,
    )


def _structure(value: Any, what: str) -> list[Any]:
    """A repeated message above the spans: a JSON array of objects, or the request is not OTLP."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _NotOtlp(f"{what} must be a JSON array of objects")
    return value


def _scope_spans(resource_spans: Mapping[str, Any]) -> list[tuple[str | None, list[Any]]]:
    """(scope name, spans) of one ResourceSpans, including the `instrumentationLibrarySpans` that
    exporters before OTLP 0.19 send, so their spans are not lost."""
    found = [
        (scoped, scoped.get("scope"))
        for scoped in _structure(_field(resource_spans, "scopeSpans", "scope_spans"), "scopeSpans")
    ]
    legacy = _field(resource_spans, "instrumentationLibrarySpans", "instrumentation_library_spans")
    found += [
        (scoped, _field(scoped, "instrumentationLibrary", "instrumentation_library"))
        for scoped in _structure(legacy, "instrumentationLibrarySpans")
    ]
    result = []
    for scoped, scope in found:
        if scope is not None and not isinstance(scope, dict):
            raise _NotOtlp("scope must be a JSON object")
        name = (scope or {}).get("name")
        if name is not None and not isinstance(name, str):
            raise _NotOtlp("scope.name must be a string")
        spans = scoped.get("spans")
        if spans is not None and not isinstance(spans, list):
            raise _NotOtlp("spans must be a JSON array")
        result.append((name, spans or []))
    return result


def _resource(resource_spans: Mapping[str, Any]) -> Resource:
    message = resource_spans.get("resource")
    if message is not None and not isinstance(message, dict):
        raise _NotOtlp("resource must be a JSON object")
    try:
        return Resource.of(_json_attributes((message or {}).get("attributes")))
    except SpanRejected as exc:
        raise SpanRejected(f"resource attributes: {exc}") from exc


def decode_json(body: bytes, catalog: PriceCatalog) -> IngestBatch:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UndecodableTracesError(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise UndecodableTracesError("An ExportTraceServiceRequest must be a JSON object")
    all_resource_spans = _field(request, "resourceSpans", "resource_spans")
    if all_resource_spans is None and request:
        raise UndecodableTracesError(
            "The body is not an OTLP/JSON ExportTraceServiceRequest: it has no resourceSpans "
            f"(fields {sorted(request)[:5]})"
        )
    batch = IngestBatch.empty()
    try:
        for resource_spans in _structure(all_resource_spans, "resourceSpans"):
            scopes = _scope_spans(resource_spans)
            try:
                resource = _resource(resource_spans)
            except SpanRejected as exc:
                # A resource that cannot be read rejects every span it carries, each counted.
                counts = batch.counts(None)
                for _, spans in scopes:
                    for _span in spans:
                        batch.reject(str(exc), counts)
                continue
            counts = batch.counts(resource.service_name)
            for scope_name, spans in scopes:
                for span in spans:
                    try:
                        normalised = _json_span(span, resource, scope_name, catalog)
                    except SpanRejected as exc:
                        batch.reject(_with_span_id(str(exc), span), counts)
                    else:
                        batch.accept(normalised, counts)
    except _NotOtlp as exc:
        raise UndecodableTracesError(
            f"The body is not an OTLP/JSON ExportTraceServiceRequest: {exc}"
        ) from exc
    return batch


def _with_span_id(reason: str, span: Any) -> str:
    """The rejection reason of an OTLP/JSON span, naming the span when its id can be read."""
    span_id = _field(span, "spanId", "span_id") if isinstance(span, dict) else None
    return naming_span(reason, span_id if isinstance(span_id, str) else "")


def naming_span(reason: str, span_id: str) -> str:
    """`span '…': reason`, so a client can find the span in its batch (unless the reason names it)."""
    if not span_id or span_id[:40] in reason:
        return reason
    return f"span {span_id[:40]!r}: {reason}"


def encode_json_response(batch: IngestBatch) -> bytes:
    if not batch.rejected:
        return b"{}"
    return orjson.dumps(
        {"partialSuccess": {"rejectedSpans": str(batch.rejected), "errorMessage": batch.rejection_message}}
    )
