"""Sample sets from traces: the trace filters select, inputs are deduplicated, outputs become
expected outputs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant
from integration.agents.traces_factory import ingest, llm_trace

pytestmark = pytest.mark.both_backends


async def test_from_traces_with_filters(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = (
        await client.post(
            f"{tenant.ws}/agents", json={"name": "C", "slug": "checker"}, headers=tenant.headers
        )
    ).json()
    spans: list[dict[str, Any]] = []
    for i in range(12):
        spans += llm_trace(
            "checker", f"Check claim {i % 10}", f"verdict {i}", index=i, error="boom" if i == 3 else None
        )[1]
    spans += llm_trace("someone-else", "Not mine", "x", index=50)[1]
    await ingest(client, tenant, spans)

    url = f"{tenant.ws}/samples/from-traces"
    response = await client.post(
        url, json={"name": "From prod", "filter": {"agent": "checker"}}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    result = response.json()
    assert response.headers["location"].endswith(result["sample_set"]["id"])
    # 12 traces, inputs "Check claim 0..9": two repeat.
    assert (result["traces_read"], result["added"], result["duplicates"], result["skipped"]) == (12, 10, 2, 0)
    assert result["sample_set"]["agent_id"] == agent["id"]
    assert result["sample_set"]["item_count"] == 10
    items = (
        await client.get(
            f"{tenant.ws}/samples/{result['sample_set']['id']}/items",
            params={"limit": 200},
            headers=tenant.headers,
        )
    ).json()["results"]
    first = next(item for item in items if item["expected_output"] == "verdict 0")
    assert first["input"] == [
        {"role": "system", "content": "You are a careful fact checker."},
        {"role": "user", "content": "Check claim 0"},
    ]
    assert len(first["source_trace_id"]) == 32
    assert first["metadata"] == {"model": "gpt-4o-mini"}

    errors_only = await client.post(
        url,
        json={"name": "Errors", "filter": {"agent": "checker", "status": "error"}, "include_output": False},
        headers=tenant.headers,
    )
    assert errors_only.json()["added"] == 1
    error_items = (
        await client.get(
            f"{tenant.ws}/samples/{errors_only.json()['sample_set']['id']}/items", headers=tenant.headers
        )
    ).json()["results"]
    assert error_items[0]["expected_output"] is None

    duplicate = await client.post(url, json={"name": "From prod"}, headers=tenant.headers)
    assert duplicate.status_code == 409
    invalid = await client.post(
        url, json={"name": "X", "filter": {"status": "weird"}, "limit": 0}, headers=tenant.headers
    )
    assert invalid.status_code == 422
    assert {tuple(e["loc"]) for e in invalid.json()["errors"]} == {
        ("body", "filter", "status"),
        ("body", "limit"),
    }
    # Another tenant selects nothing of ours.
    foreign = await client.post(
        f"{other_tenant.ws}/samples/from-traces",
        json={"name": "Theirs", "filter": {"agent": "checker"}},
        headers=other_tenant.headers,
    )
    assert foreign.json()["traces_read"] == 0
