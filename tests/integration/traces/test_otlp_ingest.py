"""OTLP/HTTP ingest through the API's ASGI app: both encodings, gzip, partial success, idempotent
re-sends, out-of-order spans, limits (413, gzip bomb), 415, 400, auth, load shedding and stats."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from fixtures_identity import Tenant
from integration.traces.otlp_payloads import (
    EXPECTED_COST,
    GENAI_ATTRIBUTES,
    request,
    span,
    span_id,
    to_protobuf,
    trace_id,
)
from spectral.platform.identity.scopes import Scope
from spectral.platform.shared.settings import Settings
from spectral.platform.traces.ingest_gate import IngestGate

pytestmark = pytest.mark.both_backends

OTLP = "/otel/v1/traces"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def agent_trace(trace: str, root: str | None = None) -> list[dict[str, Any]]:
    """A root agent span and its LLM call."""
    root = root or span_id()
    return [
        span(
            trace,
            root,
            name="answer question",
            duration_ms=500,
            attrs={"openinference.span.kind": "AGENT", "input.value": "Is the sky green?"},
        ),
        span(trace, parent=root, start_ms=100, duration_ms=300, attrs=GENAI_ATTRIBUTES),
    ]


@pytest.fixture
async def key_headers(tenant: Tenant) -> dict[str, str]:
    key = await tenant.api_key([Scope.WRITE_TRACES])
    return {"Authorization": f"Bearer {key}"}


async def get_trace(client: httpx.AsyncClient, tenant: Tenant, trace: str) -> dict[str, Any]:
    response = await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stats(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"{OTLP}/stats", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_protobuf_export_becomes_a_trace_with_model_tokens_and_cost(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    trace = trace_id()
    response = await client.post(
        OTLP, content=to_protobuf(request(agent_trace(trace))), headers={**key_headers, **PROTOBUF}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert not parsed.HasField("partial_success")

    detail = await get_trace(client, tenant, trace)
    assert detail["model"] == "gpt-4o-2024-08-06"
    assert (detail["input_tokens"], detail["output_tokens"], detail["total_tokens"]) == (1200, 300, 1500)
    assert detail["cost_usd"] == pytest.approx(EXPECTED_COST)
    assert detail["input"] == "Is the sky green?"
    assert detail["output"] == "No, it is blue."
    assert detail["status"] == "ok"
    assert detail["span_count"] == 2
    assert detail["duration_ms"] == pytest.approx(500, abs=1)
    assert detail["agent_key"] == "support-bot"
    [root] = detail["spans"]
    assert root["kind"] == "agent"
    assert [child["kind"] for child in root["children"]] == ["llm"]
    assert root["children"][0]["finish_reason"] == "stop"


async def test_gzip_json_export(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    trace = trace_id()
    body = gzip.compress(json.dumps(request(agent_trace(trace))).encode())
    response = await client.post(
        OTLP, content=body, headers={**key_headers, **JSON, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    assert (await get_trace(client, tenant, trace))["span_count"] == 2


async def test_gzip_protobuf_export(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    trace = trace_id()
    body = gzip.compress(to_protobuf(request(agent_trace(trace))))
    response = await client.post(
        OTLP, content=body, headers={**key_headers, **PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    assert (await get_trace(client, tenant, trace))["model"] == "gpt-4o-2024-08-06"


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
async def test_partial_success_rejects_bad_spans_and_stores_the_rest(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str], encoding: str
) -> None:
    trace = trace_id()
    good = span(trace, attrs=GENAI_ATTRIBUTES)
    backwards = span(trace, start_ms=50, duration_ms=10)
    backwards["endTimeUnixNano"] = str(int(backwards["startTimeUnixNano"]) - 1)
    no_start = span(trace)
    no_start["startTimeUnixNano"] = "0"
    payload = request([good, backwards, no_start])
    if encoding == "json":
        response = await client.post(OTLP, json=payload, headers=key_headers)
        partial = response.json()["partialSuccess"]
        rejected, message = int(partial["rejectedSpans"]), partial["errorMessage"]
    else:
        response = await client.post(OTLP, content=to_protobuf(payload), headers={**key_headers, **PROTOBUF})
        parsed = ExportTraceServiceResponse.FromString(response.content).partial_success
        rejected, message = parsed.rejected_spans, parsed.error_message
    assert response.status_code == 200
    assert rejected == 2
    assert "ends before it starts" in message
    assert "no start or end time" in message
    assert (await get_trace(client, tenant, trace))["span_count"] == 1
    counters = await stats(client, key_headers)
    assert (counters["received"], counters["accepted"], counters["rejected"]) == (3, 1, 2)


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
async def test_values_no_column_stores_are_cleaned_or_reject_their_span(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str], encoding: str
) -> None:
    """The OTLP decoder reads every value itself (the API's input check does not walk its bodies):
    NUL characters are dropped wherever they are, an integer past 64 bits rejects its span."""
    trace = trace_id()
    with_nul = span(trace, name="look\x00up", attrs={"tool\x00name": "find\x00order", "n": 7})
    payload = request([with_nul])
    payload["resourceSpans"][0]["scopeSpans"][0]["scope"]["name"] = "sco\x00pe"
    if encoding == "json":
        too_big = span(trace)
        too_big["attributes"] = [{"key": "n", "value": {"intValue": 2**70}}]
        payload["resourceSpans"][0]["scopeSpans"][0]["spans"].append(too_big)
        response = await client.post(OTLP, json=payload, headers=key_headers)
        assert response.status_code == 200, response.text
        partial = response.json()["partialSuccess"]
        assert int(partial["rejectedSpans"]) == 1
        assert "out of the 64-bit range" in partial["errorMessage"]
    else:
        response = await client.post(OTLP, content=to_protobuf(payload), headers={**key_headers, **PROTOBUF})
        assert response.status_code == 200, response.text
        assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    [stored] = (await get_trace(client, tenant, trace))["spans"]
    assert (stored["name"], stored["scope_name"]) == ("lookup", "scope")
    assert stored["attributes"] == {"toolname": "findorder", "n": 7}


def proto_names(value: Any) -> Any:
    """The same OTLP/JSON body under the original proto field names (`resource_spans`, `trace_id`)."""
    if isinstance(value, list):
        return [proto_names(item) for item in value]
    if isinstance(value, dict):
        return {
            re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): proto_names(item) for key, item in value.items()
        }
    return value


async def test_proto_field_names_are_read_like_camel_case_names(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    camel_trace, proto_trace = trace_id(), trace_id()
    for trace, transform in ((camel_trace, lambda body: body), (proto_trace, proto_names)):
        body = transform(request(agent_trace(trace)))
        response = await client.post(OTLP, json=body, headers=key_headers)
        assert response.status_code == 200, response.text
        assert response.json() == {}
    camel, proto = await get_trace(client, tenant, camel_trace), await get_trace(client, tenant, proto_trace)
    assert proto["span_count"] == camel["span_count"] == 2
    for field in ("model", "input_tokens", "output_tokens", "cost_usd", "input", "agent_key", "status"):
        assert proto[field] == camel[field], field
    counters = await stats(client, key_headers)
    assert (counters["received"], counters["accepted"], counters["rejected"]) == (4, 4, 0)


async def test_spans_that_cannot_be_read_are_counted_never_dropped(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    trace = trace_id()
    bad_id, bad_kind, bad_value = span(trace), span(trace), span(trace)
    bad_id["spanId"] = "not-hex-not-hex!"
    bad_kind["kind"] = "SPAN_KIND_WHATEVER"
    bad_value["attributes"] = [{"key": "n", "value": {"intValue": "lots"}}]
    response = await client.post(
        OTLP,
        json=request([span(trace, attrs=GENAI_ATTRIBUTES), bad_id, bad_kind, bad_value]),
        headers=key_headers,
    )
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "3"
    for reason in ("not 16 hex digits", "unknown span kind", "intValue 'lots' is not an integer"):
        assert reason in partial["errorMessage"]
    assert (await get_trace(client, tenant, trace))["span_count"] == 1
    counters = await stats(client, key_headers)
    assert (counters["received"], counters["accepted"], counters["rejected"]) == (4, 1, 3)


async def test_a_json_body_that_is_not_otlp_is_400_and_stores_nothing(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    trace = trace_id()
    native = {"spans": [{"trace_id": trace, "span_id": span_id(), "name": "x"}]}
    problem = assert_problem(await client.post(OTLP, json=native, headers=key_headers), 400)
    assert "no resourceSpans" in problem["detail"]
    broken = {"resourceSpans": [{"scopeSpans": {"spans": [span(trace)]}}]}
    assert_problem(await client.post(OTLP, json=broken, headers=key_headers), 400)
    assert (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).status_code == 404
    counters = await stats(client, key_headers)
    assert counters["received"] == 0
    # An empty request is valid OTLP: nothing to store, nothing lost.
    empty = await client.post(OTLP, json={}, headers=key_headers)
    assert (empty.status_code, empty.json()) == (200, {})


async def test_resent_spans_create_no_duplicates(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    trace = trace_id()
    body = to_protobuf(request(agent_trace(trace)))
    for _ in range(3):
        response = await client.post(OTLP, content=body, headers={**key_headers, **PROTOBUF})
        assert response.status_code == 200
    detail = await get_trace(client, tenant, trace)
    assert detail["span_count"] == 2
    assert detail["input_tokens"] == 1200
    listing = await client.get(f"{tenant.ws}/traces", headers=tenant.headers)
    assert listing.json()["pagination"]["total"] == 1


async def test_the_same_span_twice_in_one_request(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    trace = trace_id()
    spans = agent_trace(trace)
    response = await client.post(OTLP, json=request([*spans, spans[1]]), headers=key_headers)
    assert response.status_code == 200
    assert (await get_trace(client, tenant, trace))["span_count"] == 2


async def test_spans_of_one_trace_arrive_out_of_order_over_several_requests(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    trace, root = trace_id(), span_id()
    tool = span(
        trace,
        parent=root,
        name="search",
        start_ms=420,
        duration_ms=50,
        attrs={"openinference.span.kind": "TOOL", "tool.name": "search"},
        status_code=2,
        status_message="search backend down",
    )
    root_span, llm = agent_trace(trace, root)
    # The children first, the root last (as a BatchSpanProcessor sends them), one per request.
    for item in (tool, llm, root_span):
        response = await client.post(OTLP, json=request([item]), headers=key_headers)
        assert response.status_code == 200
        partial = await get_trace(client, tenant, trace)
        assert partial["span_count"] in (1, 2, 3)
    detail = await get_trace(client, tenant, trace)
    assert detail["span_count"] == 3
    assert detail["name"] == "answer question"
    assert detail["input"] == "Is the sky green?"
    assert detail["duration_ms"] == pytest.approx(500, abs=1)
    assert detail["error_count"] == 1
    # A failed tool inside an otherwise successful run: the trace is ok (root and LLM spans are).
    assert detail["status"] == "ok"
    [tree_root] = detail["spans"]
    assert [child["name"] for child in tree_root["children"]] == ["chat gpt-4o", "search"]


async def test_a_failed_llm_span_fails_the_trace(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    trace = trace_id()
    failed = span(trace, attrs=GENAI_ATTRIBUTES, status_code=2, status_message="rate limited")
    await client.post(OTLP, json=request([failed]), headers=key_headers)
    detail = await get_trace(client, tenant, trace)
    assert (detail["status"], detail["error_message"]) == ("error", "rate limited")


async def test_body_over_the_limit_is_413_and_nothing_is_stored(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str], settings: Settings
) -> None:
    settings.otlp_max_body_bytes = 4096
    big = request([span(trace_id(), attrs={"blob": "x" * 8000})])
    assert_problem(await client.post(OTLP, json=big, headers=key_headers), 413)
    assert (await stats(client, key_headers))["received"] == 0
    listing = await client.get(f"{tenant.ws}/traces", headers=tenant.headers)
    assert listing.json()["pagination"]["total"] == 0


async def test_gzip_bomb_is_413_and_nothing_is_stored(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str], settings: Settings
) -> None:
    settings.otlp_max_body_bytes = 1024 * 1024
    # A valid OTLP/JSON request padded with whitespace: 64 KiB on the wire, 32 MiB inflated.
    payload = json.dumps(request([span(trace_id())])).encode() + b" " * (32 * 1024 * 1024)
    bomb = gzip.compress(payload, compresslevel=9)
    assert len(bomb) < 64 * 1024
    response = await client.post(
        OTLP, content=bomb, headers={**key_headers, **JSON, "Content-Encoding": "gzip"}
    )
    assert_problem(response, 413)
    assert (await stats(client, key_headers))["received"] == 0


async def test_unsupported_media_type_and_encoding_are_415(
    client: httpx.AsyncClient, key_headers: dict[str, str]
) -> None:
    body = json.dumps(request([span(trace_id())]))
    assert_problem(
        await client.post(OTLP, content=body, headers={**key_headers, "Content-Type": "text/plain"}), 415
    )
    assert_problem(await client.post(OTLP, content=body, headers=key_headers), 415)
    response = await client.post(
        OTLP, content=body, headers={**key_headers, **JSON, "Content-Encoding": "br"}
    )
    assert_problem(response, 415)


@pytest.mark.parametrize(
    ("content_type", "body", "encoding"),
    [
        ("application/x-protobuf", b"\xff\xff\xff\xff not protobuf", None),
        ("application/json", b"{not json", None),
        ("application/json", b'{"resourceSpans": [{"scopeSpans": 7}]}', None),
        ("application/json", b"not gzip", "gzip"),
    ],
)
async def test_undecodable_body_is_400(
    client: httpx.AsyncClient,
    key_headers: dict[str, str],
    content_type: str,
    body: bytes,
    encoding: str | None,
) -> None:
    headers = {**key_headers, "Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    assert_problem(await client.post(OTLP, content=body, headers=headers), 400)


async def test_bad_or_missing_key_is_401(client: httpx.AsyncClient) -> None:
    body = to_protobuf(request([span(trace_id())]))
    bad = {"Authorization": "Bearer sk_live_not-a-real-key", **PROTOBUF}
    assert_problem(await client.post(OTLP, content=body, headers=bad), 401)
    assert_problem(await client.post(OTLP, content=body, headers=PROTOBUF), 401)


async def test_key_without_write_traces_is_403(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await tenant.api_key([Scope.READ_AGENTS])
    headers = {"Authorization": f"Bearer {key}", **PROTOBUF}
    problem = assert_problem(
        await client.post(OTLP, content=to_protobuf(request([span(trace_id())])), headers=headers), 403
    )
    assert "write:traces" in problem["detail"]


async def test_key_with_another_workspace_header_is_403(
    client: httpx.AsyncClient, key_headers: dict[str, str], other_tenant: Tenant
) -> None:
    headers = {**key_headers, **PROTOBUF, "X-Workspace-Id": str(other_tenant.workspace_id)}
    assert_problem(
        await client.post(OTLP, content=to_protobuf(request([span(trace_id())])), headers=headers), 403
    )


async def test_user_token_with_workspace_header(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trace = trace_id()
    headers = {**tenant.headers, **JSON, "X-Workspace-Id": str(tenant.workspace_id)}
    response = await client.post(OTLP, content=json.dumps(request([span(trace)])), headers=headers)
    assert response.status_code == 200, response.text
    assert (await get_trace(client, tenant, trace))["span_count"] == 1
    assert_problem(
        await client.post(
            OTLP, content=json.dumps(request([span(trace)])), headers={**tenant.headers, **JSON}
        ),
        400,
    )


async def test_saturated_write_path_is_503_with_retry_after(
    client: httpx.AsyncClient, key_headers: dict[str, str], app: FastAPI
) -> None:
    state = app.state.spectral
    state.ingest_gate = IngestGate(1, wait_seconds=0.01)
    async with state.ingest_gate.slot():
        response = await client.post(OTLP, json=request([span(trace_id())]), headers=key_headers)
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert (await client.post(OTLP, json=request([span(trace_id())]), headers=key_headers)).status_code == 200


async def test_stats_by_service(
    client: httpx.AsyncClient, tenant: Tenant, key_headers: dict[str, str]
) -> None:
    await client.post(
        OTLP, json=request([span(trace_id()), span(trace_id())], service="checkout"), headers=key_headers
    )
    await client.post(OTLP, json=request([span(trace_id())], service="search"), headers=key_headers)
    await client.post(OTLP, json=request([span(trace_id())], service=None), headers=key_headers)
    counters = await stats(client, key_headers)
    assert counters["workspace_id"] == str(tenant.workspace_id)
    assert (counters["received"], counters["accepted"], counters["rejected"]) == (4, 4, 0)
    assert counters["last_received_at"] is not None
    by_service = {item["service_name"]: item["accepted"] for item in counters["by_service"]}
    assert by_service == {None: 1, "checkout": 2, "search": 1}


async def test_stats_are_per_workspace(
    client: httpx.AsyncClient, key_headers: dict[str, str], other_tenant: Tenant
) -> None:
    await client.post(OTLP, json=request([span(trace_id())]), headers=key_headers)
    other_key = await other_tenant.api_key([Scope.WRITE_TRACES])
    assert (await stats(client, {"Authorization": f"Bearer {other_key}"}))["received"] == 0
