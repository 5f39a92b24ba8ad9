"""The normaliser: three conventions give one span; messages from attributes or events; agent
resolution order; rejections; OTLP/JSON and protobuf decode to the same rows; prices."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import pytest

from integration.traces.otlp_payloads import (
    EXPECTED_COST,
    GENAI_ATTRIBUTES,
    OPENINFERENCE_ATTRIBUTES,
    OPENLLMETRY_ATTRIBUTES,
    attributes,
    request,
    span,
    span_id,
    to_protobuf,
    trace_id,
)
from spectral.platform.models.pricing import PriceCatalog, default_catalog
from spectral.platform.shared.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from spectral.platform.traces.bounds import MAX_SPAN_TEXT, MAX_SPAN_VALUES, MAX_VALUE_DEPTH
from spectral.platform.traces.errors import UndecodableTracesError
from spectral.platform.traces.normalise import NormalisedSpan
from spectral.platform.traces.otlp import (
    decode_json,
    decode_protobuf,
    encode_json_response,
    otlp_media_type,
)
from spectral.platform.traces.payload import read_body

CATALOG = default_catalog()
SAME_FIELDS = (
    "kind",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "cost_estimated",
    "input_messages",
    "output_messages",
    "input_text",
    "output_text",
    "status",
)


def one_span(attrs: dict[str, Any], **kwargs: Any) -> NormalisedSpan:
    batch = decode_json(json.dumps(request([span(trace_id(), attrs=attrs, **kwargs)])).encode(), CATALOG)
    assert batch.rejected == 0, batch.reasons
    return batch.spans[0]


def test_three_conventions_give_the_same_span() -> None:
    spans = [
        one_span(attrs) for attrs in (GENAI_ATTRIBUTES, OPENINFERENCE_ATTRIBUTES, OPENLLMETRY_ATTRIBUTES)
    ]
    views = [{field: getattr(s, field) for field in SAME_FIELDS} for s in spans]
    assert views[0] == views[1] == views[2]
    genai = spans[0]
    assert genai.kind == "llm"
    assert genai.model == "gpt-4o-2024-08-06"
    assert (genai.input_tokens, genai.output_tokens, genai.total_tokens) == (1200, 300, 1500)
    assert genai.cost_usd == pytest.approx(EXPECTED_COST)
    assert genai.cost_estimated is True
    assert genai.input_messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Is the sky green?"},
    ]
    assert genai.output_text == "No, it is blue."
    assert genai.input_text == "Is the sky green?"
    assert spans[0].finish_reason == spans[2].finish_reason == "stop"


def test_content_moves_out_of_attributes_and_unknown_attributes_stay() -> None:
    normalised = one_span({**OPENLLMETRY_ATTRIBUTES, "custom.tenant": "acme", "retries": 2})
    assert normalised.attributes["custom.tenant"] == "acme"
    assert normalised.attributes["retries"] == 2
    assert normalised.attributes["gen_ai.request.model"] == "gpt-4o"
    assert not any(key.startswith(("gen_ai.prompt.", "gen_ai.completion.")) for key in normalised.attributes)


def test_messages_from_genai_events() -> None:
    normalised = one_span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 10,
        },
        events=[
            ("gen_ai.system.message", {"content": "Be brief."}),
            ("gen_ai.user.message", {"content": "Hi"}),
            ("gen_ai.choice", {"index": 0, "finish_reason": "length", "message": '{"content": "Hel"}'}),
            ("exception", {"exception.type": "ValueError", "exception.message": "boom"}),
        ],
    )
    assert normalised.input_messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert normalised.output_messages == [{"role": "assistant", "content": "Hel"}]
    assert normalised.finish_reason == "length"
    assert normalised.error_type == "ValueError"
    # Message events became messages; the exception event stays an event.
    assert [event["name"] for event in normalised.events or []] == ["exception"]


def test_messages_from_legacy_prompt_events() -> None:
    normalised = one_span(
        {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "llm.request.type": "chat"},
        events=[
            ("gen_ai.content.prompt", {"gen_ai.prompt": '[{"role": "user", "content": "2+2?"}]'}),
            ("gen_ai.content.completion", {"gen_ai.completion": '[{"role": "assistant", "content": "4"}]'}),
        ],
    )
    assert normalised.input_text == "2+2?"
    assert normalised.output_text == "4"


@pytest.mark.parametrize(
    ("attrs", "kind"),
    [
        ({"openinference.span.kind": "TOOL", "tool.name": "search"}, "tool"),
        ({"openinference.span.kind": "RETRIEVER"}, "retriever"),
        ({"openinference.span.kind": "AGENT"}, "agent"),
        ({"openinference.span.kind": "CHAIN"}, "chain"),
        ({"traceloop.span.kind": "workflow"}, "chain"),
        ({"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup"}, "tool"),
        ({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}, "tool"),
        ({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"}, "agent"),
        ({"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small"}, "other"),
        ({"http.method": "GET"}, "other"),
    ],
)
def test_kinds(attrs: dict[str, Any], kind: str) -> None:
    assert one_span(attrs).kind == kind


def test_tool_name_from_traceloop_entity() -> None:
    assert one_span({"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup"}).tool_name == "lookup"


def test_agent_resolution_order() -> None:
    base = {"gen_ai.agent.name": "triage"}
    assert one_span({"spectral.agent.name": "billing", **base}).agent_key == "billing"
    genai = one_span(base)
    assert (genai.agent_key, genai.agent_source) == ("triage", 2)
    fallback = one_span({})
    assert (fallback.agent_key, fallback.agent_source) == ("support-bot", 3)
    versioned = one_span({"spectral.agent.id": "abc", "spectral.agent.version": "7"})
    assert (versioned.agent_key, versioned.agent_version) == ("abc", "7")


def test_span_cost_wins_over_the_catalog() -> None:
    normalised = one_span({**OPENINFERENCE_ATTRIBUTES, "llm.cost.total": 0.5})
    assert (normalised.cost_usd, normalised.cost_estimated) == (0.5, False)
    unknown = one_span(
        {**GENAI_ATTRIBUTES, "gen_ai.response.model": "my-own-model", "gen_ai.request.model": "x"}
    )
    assert unknown.cost_usd is None


def test_error_status() -> None:
    normalised = one_span({"error.type": "Timeout"}, status_code=2, status_message="upstream timed out")
    assert (normalised.status, normalised.error_type, normalised.error_message) == (
        "error",
        "Timeout",
        "upstream timed out",
    )


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"traceId": ""}, "missing trace id"),
        ({"traceId": "0" * 32}, "invalid trace id"),
        ({"traceId": "zz" * 16}, "trace id 'zzzz"),
        # base64, the protobuf JSON default for bytes, is not the OTLP/JSON encoding of ids
        ({"traceId": "W47/95gDgQPSabYzgT/GDA=="}, "is not 32 hex digits"),
        ({"traceId": 12345}, "is not 32 hex digits"),
        ({"spanId": "xyz"}, "span id 'xyz' is not 16 hex digits"),
        ({"parentSpanId": "12"}, "parent span id '12' is not 16 hex digits"),
        ({"startTimeUnixNano": "0"}, "no start or end time"),
        ({"endTimeUnixNano": "1"}, "ends before it starts"),
        ({"startTimeUnixNano": "soon"}, "startTimeUnixNano 'soon' is not an integer"),
        ({"startTimeUnixNano": True}, "is not an integer"),
        ({"startTimeUnixNano": "1" * 25}, "is out of the 64-bit range"),
        ({"startTimeUnixNano": str(2**70)}, "is out of the 64-bit range"),
        ({"attributes": [{"key": "k", "value": {"intValue": str(2**64)}}]}, "out of the 64-bit range"),
        ({"kind": 9}, "unknown span kind 9"),
        ({"kind": "SPAN_KIND_SOMETHING"}, "unknown span kind 'SPAN_KIND_SOMETHING'"),
        ({"kind": "server"}, "unknown span kind 'server'"),
        ({"status": {"code": 7}}, "unknown status code 7"),
        ({"status": {"code": "STATUS_CODE_BROKEN"}}, "unknown status code"),
        ({"status": "ok"}, "status must be a JSON object"),
        ({"name": 42}, "span name must be a string"),
        ({"attributes": {"k": "v"}}, "attributes must be a JSON array"),
        ({"attributes": [{"key": "k", "value": {"intValue": "many"}}]}, "intValue 'many' is not an integer"),
        ({"attributes": [{"key": "k", "value": {"boolValue": "yes"}}]}, "boolValue must be true or false"),
        ({"attributes": [{"key": "k", "value": {"stringValue": 3}}]}, "stringValue must be a string"),
        ({"attributes": [{"key": "k", "value": {"bytesValue": "%%%"}}]}, "is not base64"),
        ({"attributes": [{"key": "k", "value": {"stringvalue": "typo"}}]}, "no value of a known type"),
        ({"events": [{"name": "e", "timeUnixNano": "x"}]}, "event timeUnixNano 'x' is not an integer"),
        ({"links": [{"traceId": "ab", "spanId": "cd"}]}, "link trace id 'ab' is not 32 hex digits"),
    ],
)
def test_bad_spans_are_rejected_one_by_one(override: dict[str, Any], reason: str) -> None:
    good = span(trace_id())
    bad = {**span(trace_id()), **override}
    batch = decode_json(json.dumps(request([good, bad])).encode(), CATALOG)
    assert len(batch.spans) == 1
    assert batch.rejected == 1
    assert reason in batch.rejection_message
    assert json.loads(encode_json_response(batch)) == {
        "partialSuccess": {"rejectedSpans": "1", "errorMessage": batch.rejection_message}
    }


def test_protobuf_and_json_decode_to_the_same_rows() -> None:
    trace = trace_id()
    root = span_id()
    body = request(
        [
            span(trace, root, name="agent", attrs={"openinference.span.kind": "AGENT", "input.value": "hi"}),
            span(trace, parent=root, attrs=GENAI_ATTRIBUTES, events=[("exception", {"exception.type": "E"})]),
        ],
        **{"deployment.environment": "test"},
    )
    from_json = decode_json(json.dumps(body).encode(), CATALOG)
    from_protobuf = decode_protobuf(to_protobuf(body), CATALOG)
    assert [asdict(s) for s in from_json.spans] == [asdict(s) for s in from_protobuf.spans]
    assert from_json.by_service["support-bot"].accepted == 2


def test_json_accepts_upper_case_hex_ids_and_enum_names() -> None:
    trace = trace_id()
    body = span(trace)
    body["traceId"] = trace.upper()
    body["kind"] = "SPAN_KIND_CLIENT"
    body["status"] = {"code": "STATUS_CODE_ERROR", "message": "x"}
    normalised = decode_json(json.dumps(request([body])).encode(), CATALOG).spans[0]
    assert (normalised.trace_id, normalised.span_kind, normalised.status) == (trace, "client", "error")


def _proto_names(value: Any) -> Any:
    """The same message under the original proto field names (`resource_spans`, `trace_id`, ...)."""
    if isinstance(value, list):
        return [_proto_names(item) for item in value]
    if isinstance(value, dict):
        return {
            re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): _proto_names(item) for key, item in value.items()
        }
    return value


def test_json_reads_proto_field_names_at_every_level_as_the_camel_case_names() -> None:
    trace, root = trace_id(), span_id()
    camel = request(
        [
            span(
                trace,
                root,
                attrs={"nested": {"list": [1, 2.5, True, "x"]}},
                status_code=2,
                status_message="no",
            ),
            span(trace, parent=root, attrs=GENAI_ATTRIBUTES, events=[("exception", {"exception.type": "E"})]),
        ]
    )
    camel["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["links"] = [
        {"traceId": trace_id(), "spanId": span_id(), "attributes": attributes({"k": "v"})}
    ]
    proto = _proto_names(camel)
    assert "resource_spans" in proto
    assert "trace_id" in proto["resource_spans"][0]["scope_spans"][0]["spans"][0]
    from_camel = decode_json(json.dumps(camel).encode(), CATALOG)
    from_proto = decode_json(json.dumps(proto).encode(), CATALOG)
    assert from_proto.rejected == 0
    assert [asdict(s) for s in from_proto.spans] == [asdict(s) for s in from_camel.spans]
    assert from_proto.spans[0].attributes["nested"] == {"list": [1, 2.5, True, "x"]}
    assert from_proto.spans[0].links is not None


def test_json_reads_legacy_instrumentation_library_spans() -> None:
    body = request([span(trace_id())])
    scope_spans = body["resourceSpans"][0].pop("scopeSpans")
    body["resourceSpans"][0]["instrumentationLibrarySpans"] = [
        {"instrumentationLibrary": {"name": "old-sdk"}, "spans": scope_spans[0]["spans"]}
    ]
    batch = decode_json(json.dumps(body).encode(), CATALOG)
    assert (len(batch.spans), batch.rejected, batch.spans[0].scope_name) == (1, 0, "old-sdk")


def test_an_empty_request_is_fine_but_a_body_that_is_not_otlp_is_400() -> None:
    assert decode_json(b"{}", CATALOG).received == 0
    native = {"spans": [{"trace_id": trace_id(), "span_id": span_id(), "name": "x"}]}
    with pytest.raises(UndecodableTracesError, match="no resourceSpans"):
        decode_json(json.dumps(native).encode(), CATALOG)


def test_a_resource_that_cannot_be_read_rejects_each_of_its_spans() -> None:
    body = request([span(trace_id()), span(trace_id())])
    body["resourceSpans"][0]["resource"]["attributes"].append({"key": "bad", "value": {"intValue": "x"}})
    good = request([span(trace_id())])["resourceSpans"][0]
    body["resourceSpans"].append(good)
    batch = decode_json(json.dumps(body).encode(), CATALOG)
    assert (len(batch.spans), batch.rejected) == (1, 2)
    assert "resource attributes" in batch.rejection_message


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def _json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(_json_bytes, decode_json), (to_protobuf, decode_protobuf)],
    ids=["json", "protobuf"],
)
def test_attribute_values_nest_at_most_the_bound(encode: Any, decode: Any) -> None:
    ok, deep = span(trace_id()), span(trace_id())
    ok["attributes"] = attributes({"v": _nested(MAX_VALUE_DEPTH)})
    deep["attributes"] = attributes({"v": _nested(MAX_VALUE_DEPTH + 1)})
    batch = decode(encode(request([ok, deep])), CATALOG)
    assert (len(batch.spans), batch.rejected) == (1, 1)
    assert f"deeper than {MAX_VALUE_DEPTH}" in batch.rejection_message


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(_json_bytes, decode_json), (to_protobuf, decode_protobuf)],
    ids=["json", "protobuf"],
)
def test_a_rejection_names_the_span(encode: Any, decode: Any) -> None:
    deep = span(trace_id())
    deep["attributes"] = attributes({"v": _nested(MAX_VALUE_DEPTH + 1)})
    batch = decode(encode(request([span(trace_id()), deep])), CATALOG)
    assert batch.rejection_message.startswith(f"1 span rejected: span '{deep['spanId']}': ")


def test_messages_parsed_from_attributes_are_bounded_too() -> None:
    arguments = json.dumps(_nested(MAX_VALUE_DEPTH + 1))
    messages = [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": arguments}}]}]
    body = span(trace_id(), attrs={"gen_ai.output.messages": json.dumps(messages)})
    batch = decode_json(json.dumps(request([body])).encode(), CATALOG)
    assert batch.rejected == 1
    assert "messages nest deeper than" in batch.rejection_message


def test_counts_and_costs_that_cannot_be_real_are_not_taken_as_such() -> None:
    huge = {"gen_ai.usage.input_tokens": 2**62, "gen_ai.usage.output_tokens": 10, "spectral.cost_usd": 1e300}
    body = span(trace_id(), attrs={**GENAI_ATTRIBUTES, **huge})
    [normalised] = decode_json(json.dumps(request([body])).encode(), CATALOG).spans
    assert (normalised.input_tokens, normalised.output_tokens, normalised.total_tokens) == (None, 10, 10)
    assert normalised.attributes["gen_ai.usage.input_tokens"] == 2**62  # kept as sent
    assert (normalised.cost_usd or 0.0) < 1  # not 1e300: the price estimate (or nothing) instead


def test_span_size_is_bounded() -> None:
    many = span(trace_id(), attrs={f"k{i}": "v" for i in range(MAX_SPAN_VALUES + 1)})
    large = span(trace_id(), attrs={"a": "x" * (MAX_SPAN_TEXT // 2), "b": "y" * (MAX_SPAN_TEXT // 2)})
    batch = decode_json(json.dumps(request([many, large])).encode(), CATALOG)
    assert batch.rejected == 2
    assert f"more than {MAX_SPAN_VALUES} attribute values" in batch.rejection_message
    assert f"more than {MAX_SPAN_TEXT} characters" in batch.rejection_message


def test_spans_the_json_shortcut_cannot_clear_are_measured_exactly() -> None:
    """The bounds skip the walk only for spans whose JSON proves them small; brackets inside strings
    and text up to the bound fall through to the exact count and are stored."""
    brackets = {"a": "[{" * 100}
    name = "n"
    at_the_bound = {"a": "x" * (MAX_SPAN_TEXT - len(name) - 1)}
    body = [span(trace_id(), attrs=attrs, name=name) for attrs in (brackets, at_the_bound)]
    batch = decode_json(json.dumps(request(body)).encode(), CATALOG)
    assert (len(batch.spans), batch.rejected) == (2, 0), batch.reasons
    assert batch.spans[0].attributes == brackets


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"resourceSpans": 5}'])
def test_undecodable_json(body: bytes) -> None:
    with pytest.raises(UndecodableTracesError):
        decode_json(body, CATALOG)


def test_undecodable_protobuf() -> None:
    with pytest.raises(UndecodableTracesError):
        decode_protobuf(b"\xff\xff\xff\xff", CATALOG)


def test_media_types() -> None:
    assert otlp_media_type("application/json; charset=utf-8") == "application/json"
    assert otlp_media_type("application/x-protobuf") == "application/x-protobuf"
    with pytest.raises(UnsupportedMediaTypeError):
        otlp_media_type("text/plain")


async def _chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_gzip_bomb_is_cut_off_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))  # ~50 KiB that inflate to 50 MiB
    with pytest.raises(PayloadTooLargeError):
        await read_body(_chunks(bomb), content_encoding="gzip", limit=1024 * 1024)


async def test_gzip_within_the_limit_and_multi_member() -> None:
    data = gzip.compress(b"hello ") + gzip.compress(b"world")
    assert await read_body(_chunks(data, 3), content_encoding="gzip", limit=1024) == b"hello world"


async def test_corrupt_gzip_and_unknown_encoding() -> None:
    with pytest.raises(UndecodableTracesError):
        await read_body(_chunks(b"not gzip at all"), content_encoding="gzip", limit=1024)
    with pytest.raises(UndecodableTracesError):
        await read_body(_chunks(gzip.compress(b"abc" * 100)[:20]), content_encoding="gzip", limit=1024)
    with pytest.raises(UnsupportedMediaTypeError):
        await read_body(_chunks(b"x"), content_encoding="br", limit=1024)


async def test_plain_body_over_the_limit() -> None:
    with pytest.raises(PayloadTooLargeError):
        await read_body(_chunks(b"x" * 2048), content_encoding=None, limit=1024)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai/gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("us.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("gpt-4.5-preview", None),
        ("gpt-4oo", None),
    ],
)
def test_price_catalog_matching(model: str, expected: str | None) -> None:
    price = CATALOG.lookup(model)
    assert (price.model if price else None) == expected


def test_price_catalog_cost() -> None:
    assert CATALOG.cost("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)
    assert CATALOG.cost("gpt-4o", None, None) is None
    assert CATALOG.cost(None, 10, 10) is None
    assert len(PriceCatalog([])) == 0


@pytest.mark.parametrize(
    ("response", "finish_reason"),
    [
        ({"choices": [{"index": 0, "finish_reason": "length", "message": {"content": "Hel"}}]}, "length"),
        (
            {"type": "message", "stop_reason": "max_tokens", "content": [{"type": "text", "text": "Hel"}]},
            "max_tokens",
        ),
        ({"choices": []}, None),
        ("not a response", None),
    ],
)
def test_an_openinference_llm_span_has_the_finish_reason_of_the_response_it_recorded(
    response: Any, finish_reason: str | None
) -> None:
    """OpenInference has no finish-reason attribute: its OpenAI and Anthropic instrumentations record
    the response as `output.value`, where a cut answer says so."""
    output = json.dumps(response) if isinstance(response, dict) else response
    normalised = one_span(
        {**OPENINFERENCE_ATTRIBUTES, "output.value": output, "output.mime_type": "application/json"}
    )
    assert normalised.finish_reason == finish_reason
    # Only an LLM span's output is a response: a chain's JSON output is not read for one.
    chain = one_span({"openinference.span.kind": "CHAIN", "output.value": output})
    assert chain.finish_reason is None


def test_an_llm_span_reads_as_its_messages_not_the_request_and_response_it_recorded() -> None:
    """OpenInference's OpenAI instrumentation records the raw request and response JSON as
    `input.value`/`output.value` beside the messages; on its own (no chain around it) the call is the
    trace, and its answer, not the response JSON, is what the rubric must read."""
    request = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Is the sky green?"}],
        "max_tokens": 50,
    }
    response = {"choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "No, it is blue."}}]}
    normalised = one_span(
        {
            **OPENINFERENCE_ATTRIBUTES,
            "input.value": json.dumps(request),
            "input.mime_type": "application/json",
            "output.value": json.dumps(response),
            "output.mime_type": "application/json",
        }
    )
    assert normalised.input_text == "Is the sky green?"
    assert normalised.output_text == "No, it is blue."
    assert normalised.finish_reason == "stop"
    # A chain's input and output values are its own: kept as sent.
    chain = one_span(
        {"openinference.span.kind": "CHAIN", "input.value": '{"question": "q"}', "output.value": "a"}
    )
    assert (chain.input_text, chain.output_text) == ('{"question": "q"}', "a")
