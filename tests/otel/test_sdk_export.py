"""The real OpenTelemetry Python SDK exporting with its OTLP/HTTP exporter (protobuf, plain and
gzip) to the `spectral-otel-ingest` app served by uvicorn on 127.0.0.1 — the spans show up as traces
with model, tokens and cost. The server has its own connections, so this module uses a database of
its own (dropped at the end) instead of the rolled-back test transaction."""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from integration.traces.otlp_payloads import request, span
from integration.traces.otlp_payloads import trace_id as otlp_trace_id
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.migrations.runner import upgrade
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Environment, Settings
from spectral_api.app import create_app as create_api
from spectral_api.state import AppState
from spectral_otel_ingest.app import create_app as create_ingest
from testenv import PG_ADMIN_DSN, TEST_JWT_SECRET

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    name = f"spectral_otel_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def server_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        env=Environment.TEST,
        data_dir=tmp_path_factory.mktemp("otel"),
        database_url=database_url,
        jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(settings: Settings) -> Iterator[str]:
    """`spectral-otel-ingest` served by a real uvicorn in a thread (its own loop and connections)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_ingest(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def ingest_url(server_settings: Settings) -> Iterator[str]:
    yield from serve(server_settings)


# A quota a test can exhaust: 4 spans of burst, refilling at 1 span/s.
METERED_BURST = 4
METERED_RATE = 1.0


@pytest.fixture(scope="module")
def metered_ingest_url(server_settings: Settings) -> Iterator[str]:
    yield from serve(
        server_settings.model_copy(
            update={"ingest_spans_per_second": METERED_RATE, "ingest_span_burst": METERED_BURST}
        )
    )


@dataclass(slots=True)
class Workspace:
    api: httpx.AsyncClient
    headers: dict[str, str]
    ws: str
    key: str


@pytest.fixture
async def workspace(server_settings: Settings) -> AsyncIterator[Workspace]:
    """A tenant registered through the API (committed: the ingest server must see it)."""
    db = Database(server_settings.resolved_database_url, pool_size=2)
    ctx: dict[str, object] = {"db": db, "settings": server_settings}
    queue = InProcessQueue(JOB_FUNCTIONS, ctx)
    ctx["queue"] = queue
    app = create_api(server_settings, state=AppState(settings=server_settings, db=db, queue=queue))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api:
        email = f"otel-{uuid.uuid4().hex[:10]}@example.com"
        registered = await api.post(
            "/api/v1/auth/register",
            json={"email": email, "password": "correct horse battery staple", "tenant_name": "OTel"},
        )
        assert registered.status_code == 201, registered.text
        body = registered.json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        ws = f"/api/v1/workspaces/{body['workspace_id']}"
        created = await api.post(
            f"{ws}/keys", json={"name": "exporter", "scopes": ["write:traces"]}, headers=headers
        )
        assert created.status_code == 201, created.text
        yield Workspace(api=api, headers=headers, ws=ws, key=created.json()["key"])
    await queue.close()
    await db.dispose()


def export(ingest_url: str, key: str, compression: Compression, service: str = "fact-checker") -> str:
    """Run an agent under the SDK: a root span and an LLM call with GenAI attributes."""
    exporter = OTLPSpanExporter(
        endpoint=f"{ingest_url}/otel/v1/traces",
        headers={"Authorization": f"Bearer {key}"},
        compression=compression,
        timeout=10,
    )
    results: list[SpanExportResult] = []
    original = exporter.export

    def recording_export(spans: Any) -> SpanExportResult:
        result = original(spans)
        results.append(result)
        return result

    exporter.export = recording_export  # type: ignore[method-assign]
    trace_id = run_agent(exporter, service)
    assert results
    assert all(result is SpanExportResult.SUCCESS for result in results), results
    return trace_id


def run_agent(exporter: SpanExporter, service: str = "fact-checker") -> str:
    """The agent's two spans, handed to `exporter` as each ends; the trace id."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("spectral.tests")
    with tracer.start_as_current_span("invoke_agent fact-checker") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("input.value", "Is the moon made of cheese?")
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.provider.name", "openai")
            llm.set_attribute("gen_ai.request.model", "gpt-4o")
            llm.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
            llm.set_attribute("gen_ai.usage.input_tokens", 2000)
            llm.set_attribute("gen_ai.usage.output_tokens", 500)
            llm.set_attribute("gen_ai.response.finish_reasons", ["stop"])
            llm.add_event("gen_ai.user.message", {"content": "Is the moon made of cheese?"})
            llm.add_event(
                "gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": '{"content": "No."}'}
            )
        root.set_attribute("output.value", "No.")
        root.set_status(Status(StatusCode.OK))
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
async def test_sdk_export_becomes_a_trace(
    ingest_url: str, workspace: Workspace, compression: Compression
) -> None:
    trace_id = export(ingest_url, workspace.key, compression)
    response = await workspace.api.get(f"{workspace.ws}/traces/{trace_id}", headers=workspace.headers)
    assert response.status_code == 200, response.text
    assert_agent_trace(response.json())


def assert_agent_trace(trace: dict[str, Any]) -> None:
    assert trace["model"] == "gpt-4o-2024-08-06"
    assert (trace["input_tokens"], trace["output_tokens"]) == (2000, 500)
    assert trace["cost_usd"] == pytest.approx((2000 * 2.5 + 500 * 10.0) / 1_000_000)
    assert trace["input"] == "Is the moon made of cheese?"
    assert trace["output"] == "No."
    assert (trace["agent_key"], trace["service_name"], trace["span_count"]) == (
        "fact-checker",
        "fact-checker",
        2,
    )
    [root] = trace["spans"]
    [llm] = root["children"]
    assert (root["kind"], llm["kind"], llm["finish_reason"]) == ("agent", "llm", "stop")
    assert llm["output_messages"] == [{"role": "assistant", "content": "No."}]
    assert llm["resource_attributes"]["telemetry.sdk.name"] == "opentelemetry"


_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def hex_ids(value: Any) -> Any:
    """The protobuf JSON mapping writes bytes as base64; OTLP/JSON writes ids as hex."""
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in _ID_FIELDS else hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [hex_ids(item) for item in value]
    return value


@pytest.mark.parametrize("proto_names", [False, True], ids=["lowerCamelCase", "proto-names"])
async def test_sdk_spans_as_otlp_json_in_either_field_name_form(
    ingest_url: str, workspace: Workspace, proto_names: bool
) -> None:
    """The SDK's own encoder builds the request; the proto3 JSON mapping writes it with enum names
    and int64 strings, under camelCase or the proto field names; both read as the protobuf export."""
    finished = InMemorySpanExporter()
    trace_id = run_agent(finished)
    body = hex_ids(
        MessageToDict(encode_spans(finished.get_finished_spans()), preserving_proto_field_name=proto_names)
    )
    assert ("resource_spans" in body) is proto_names
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{ingest_url}/otel/v1/traces", json=body, headers={"Authorization": f"Bearer {workspace.key}"}
        )
    assert response.status_code == 200, response.text
    assert response.json() == {}
    detail = await workspace.api.get(f"{workspace.ws}/traces/{trace_id}", headers=workspace.headers)
    assert detail.status_code == 200, detail.text
    assert_agent_trace(detail.json())


async def test_sdk_over_the_quota_backs_off_on_429_and_loses_no_span(
    metered_ingest_url: str, workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    url, key = f"{metered_ingest_url}/otel/v1/traces", {"Authorization": f"Bearer {workspace.key}"}
    filler = request([span(otlp_trace_id()) for _ in range(METERED_BURST)])
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, json=filler, headers=key)).status_code == 200
        refused = await client.post(url, json=request([span(otlp_trace_id())] * 2), headers=key)
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "2"  # 2 spans at 1 span/s

    exporter = OTLPSpanExporter(endpoint=url, headers=key, timeout=30)
    results: list[SpanExportResult] = []
    original = exporter.export

    def recording_export(spans: Any) -> SpanExportResult:
        results.append(original(spans))
        return results[-1]

    exporter.export = recording_export  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        trace_id = run_agent(exporter)
    assert results == [SpanExportResult.SUCCESS] * 2
    # The exporter was refused, waited Retry-After and sent again: the spans arrived all the same.
    assert any("retrying in" in record.getMessage() for record in caplog.records)
    detail = await workspace.api.get(f"{workspace.ws}/traces/{trace_id}", headers=workspace.headers)
    assert detail.status_code == 200, detail.text
    assert_agent_trace(detail.json())


def test_sdk_with_a_bad_key_is_refused(ingest_url: str) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f"{ingest_url}/otel/v1/traces", headers={"Authorization": "Bearer sk_live_wrong"}, timeout=5
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "x"}))
    tracer = provider.get_tracer("spectral.tests")
    with tracer.start_as_current_span("span") as span:
        pass
    assert exporter.export([span]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    exporter.shutdown()


def test_ingest_health_and_request_id(ingest_url: str) -> None:
    response = httpx.get(f"{ingest_url}/api/v1/health", headers={"X-Request-Id": "abc-123"})
    assert response.status_code == 200
    assert response.json()["database"]["status"] == "ok"
    assert response.headers["X-Request-Id"] == "abc-123"
    problem = httpx.post(
        f"{ingest_url}/otel/v1/traces", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert problem.status_code == 401
    assert problem.headers["content-type"].startswith("application/problem+json")
