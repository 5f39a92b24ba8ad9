"""The OpenTelemetry SDK's own OTLP/HTTP exporter (protobuf, gzip) against `spectral-otel-ingest`
running as its own process in production mode; the API process then serves the traces."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from e2e.conftest import Stack
from spectral_cli.demo.seeding import DEMO_PASSWORD, bearer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


async def test_sdk_spans_sent_to_the_ingest_process_are_served_by_the_api(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        registered = await client.post(
            "/api/v1/auth/register",
            json={"email": "sdk@example.com", "password": DEMO_PASSWORD, "tenant_name": "SDK"},
        )
        assert registered.status_code == 201, registered.text
        headers = bearer(registered.json()["access_token"])
        ws = f"/api/v1/workspaces/{registered.json()['workspace_id']}"
        key = (
            await client.post(f"{ws}/keys", json={"name": "sdk", "scopes": ["write:traces"]}, headers=headers)
        ).json()["key"]

        provider = TracerProvider(resource=Resource.create({"service.name": "fact-checker"}))
        exporter = OTLPSpanExporter(
            endpoint=f"{stack.ingest_url}/otel/v1/traces",
            headers={"Authorization": f"Bearer {key}"},
            compression=Compression.Gzip,
            timeout=10,
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("e2e")
        with tracer.start_as_current_span("answer") as root:
            root.set_attribute("input.value", "Is the moon made of cheese?")
            with tracer.start_as_current_span("chat gpt-4o-mini") as llm:
                llm.set_attribute("gen_ai.operation.name", "chat")
                llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                llm.set_attribute("gen_ai.usage.input_tokens", 1000)
                llm.set_attribute("gen_ai.usage.output_tokens", 100)
        trace_id = format(root.get_span_context().trace_id, "032x")
        provider.shutdown()

        for _ in range(50):
            listed = (await client.get(f"{ws}/traces", headers=headers)).json()
            if listed["pagination"]["total"]:
                break
            await asyncio.sleep(0.1)
        [trace] = listed["results"]
        assert trace["trace_id"] == trace_id
        assert trace["model"] == "gpt-4o-mini"
        assert (trace["input_tokens"], trace["output_tokens"]) == (1000, 100)
        assert trace["cost_usd"] > 0
        assert trace["service_name"] == "fact-checker"
