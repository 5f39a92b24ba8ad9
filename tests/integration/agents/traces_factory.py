"""Traces for the agents, evaluations, samples and inference tests, sent through the real native
ingest API (`POST {ws}/traces`), so every test reads what the normaliser actually stored."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fixtures_identity import Tenant

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def llm_trace(
    agent: str,
    user: str,
    output: str,
    *,
    system: str = "You are a careful fact checker.",
    index: int = 0,
    latency_ms: int = 800,
    finish_reason: str = "stop",
    error: str | None = None,
    tool: tuple[str, str | None] | None = None,
    model: str = "gpt-4o-mini",
) -> tuple[str, list[dict[str, Any]]]:
    """(trace id, spans): an LLM span (the root), optionally with a tool span (name, error) below."""
    trace_id = secrets.token_hex(16)
    root_id = secrets.token_hex(8)
    start = BASE + timedelta(seconds=index)
    root: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": root_id,
        "name": "chat",
        "kind": "client",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(milliseconds=latency_ms)).isoformat(),
        "status": "error" if error else "ok",
        "status_message": error,
        "attributes": {
            "spectral.agent.name": agent,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.input.messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "gen_ai.output.messages": [
                {"role": "assistant", "content": output, "finish_reason": finish_reason}
            ],
        },
    }
    spans = [root]
    if tool is not None:
        name, tool_error = tool
        spans.append(
            {
                "trace_id": trace_id,
                "span_id": secrets.token_hex(8),
                "parent_span_id": root_id,
                "name": f"tool {name}",
                "start_time": (start + timedelta(milliseconds=10)).isoformat(),
                "end_time": (start + timedelta(milliseconds=60)).isoformat(),
                "status": "error" if tool_error else "ok",
                "status_message": tool_error,
                "attributes": {
                    "spectral.agent.name": agent,
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": name,
                },
            }
        )
    return trace_id, spans


async def ingest(client: httpx.AsyncClient, tenant: Tenant, spans: list[dict[str, Any]]) -> None:
    for offset in range(0, len(spans), 500):
        body = {"resource": {"service.name": "fact-checker"}, "spans": spans[offset : offset + 500]}
        response = await client.post(f"{tenant.ws}/traces", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.text


async def thumbs_down(client: httpx.AsyncClient, tenant: Tenant, trace_id: str) -> None:
    response = await client.post(
        f"{tenant.ws}/traces/{trace_id}/feedback",
        json={"kind": "thumbs", "value": "down"},
        headers=tenant.headers,
    )
    assert response.status_code in (200, 201), response.text


async def thumbs_up(client: httpx.AsyncClient, tenant: Tenant, trace_id: str) -> None:
    response = await client.post(
        f"{tenant.ws}/traces/{trace_id}/feedback",
        json={"kind": "thumbs", "value": "up"},
        headers=tenant.headers,
    )
    assert response.status_code in (200, 201), response.text
