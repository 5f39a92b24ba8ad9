"""A workspace set up along the loop through the API: an agent with a config, a rubric, an
objective and a few traces of that agent (one failing), sent to the native ingest endpoint."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from fixtures_identity import Tenant
from spectral.platform.shared.clock import utcnow

N_TRACES = 4


@dataclass(frozen=True, slots=True)
class Seeded:
    tenant: Tenant
    agent_id: str
    rubric_id: str
    objective_id: str
    trace_ids: list[str]


def _span(trace_id: str, *, model: str, failed: bool) -> dict[str, object]:
    start = utcnow() - timedelta(minutes=5)
    return {
        "trace_id": trace_id,
        "span_id": uuid.uuid4().hex[:16],
        "name": f"chat {model}",
        "kind": "client",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(milliseconds=800)).isoformat(),
        "status": "error" if failed else "ok",
        "attributes": {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.input.messages": [{"role": "user", "content": "Where is my order?"}],
            "gen_ai.output.messages": [{"role": "assistant", "content": "It ships today."}],
        },
    }


async def send_traces(
    client: httpx.AsyncClient, tenant: Tenant, slug: str, *, n: int, failing: int
) -> list[str]:
    trace_ids = [uuid.uuid4().hex for _ in range(n)]
    spans = [
        _span(trace_id, model="gpt-4o" if i % 2 else "gpt-4o-mini", failed=i < failing)
        for i, trace_id in enumerate(trace_ids)
    ]
    response = await client.post(
        f"{tenant.ws}/traces",
        json={"resource": {"service.name": slug}, "spans": spans},
        headers=tenant.headers,
    )
    assert response.status_code in (200, 202), response.text
    assert response.json()["accepted"] == n
    return trace_ids


@pytest.fixture
async def seeded(client: httpx.AsyncClient, tenant: Tenant) -> Seeded:
    h = tenant.headers
    agent = await client.post(
        f"{tenant.ws}/agents",
        json={
            "name": "Support bot",
            "slug": "support-bot",
            "config": {
                "model": "gpt-4o",
                "params": {"temperature": 0.2},
                "templates": {"system": "Be brief."},
            },
        },
        headers=h,
    )
    assert agent.status_code == 201, agent.text
    rubric = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={
            "name": "Quality",
            "dimensions": [{"key": "ok", "scorer": {"type": "no_error"}, "threshold": 1}],
        },
        headers=h,
    )
    assert rubric.status_code == 201, rubric.text
    objective = await client.post(
        f"{tenant.ws}/evaluations/objectives",
        json={
            "name": "Balanced",
            "rubric_id": rubric.json()["id"],
            "weights": {"quality": 1, "cost": 0, "latency": 0},
        },
        headers=h,
    )
    assert objective.status_code == 201, objective.text
    trace_ids = await send_traces(client, tenant, "support-bot", n=N_TRACES, failing=1)
    return Seeded(
        tenant=tenant,
        agent_id=agent.json()["id"],
        rubric_id=rubric.json()["id"],
        objective_id=objective.json()["id"],
        trace_ids=trace_ids,
    )
