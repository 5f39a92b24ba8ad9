"""Contract gaps found by calling the API as documented: creates answer 201 with Location, a
password reset request answers 202 with a JSON body, native ingest of a non-JSON body is 415 like
OTLP and JSONL import, and a scan of an agent without an active config is a 400 precondition."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from fixtures_identity import Tenant

pytestmark = pytest.mark.both_backends


async def test_native_ingest_of_another_media_type_is_415_and_stores_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    span = {"trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16], "name": "x"}
    body = json.dumps({"spans": [span]})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = dict(tenant.headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = await client.post(f"{tenant.ws}/traces", content=body.encode(), headers=headers)
        assert response.status_code == 415, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 415
        assert problem["type"].endswith("/unsupported-media-type")
    listed = (await client.get(f"{tenant.ws}/traces", headers=tenant.headers)).json()
    assert listed["pagination"]["total"] == 0
    stats = (
        await client.get(
            "/otel/v1/traces/stats", headers={**tenant.headers, "X-Workspace-Id": str(tenant.workspace_id)}
        )
    ).json()
    assert stats["received"] == 0
    json_with_charset = await client.post(
        f"{tenant.ws}/traces",
        content=body.encode(),
        headers={**tenant.headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert json_with_charset.status_code == 200, json_with_charset.text


async def test_reset_password_answers_202_with_a_json_body(client: httpx.AsyncClient, tenant: Tenant) -> None:
    bodies = []
    for email in (tenant.email, "nobody-here@example.com"):
        response = await client.post("/api/v1/auth/reset-password", json={"email": email})
        assert response.status_code == 202
        assert response.headers["content-type"] == "application/json"
        bodies.append(response.json())
    assert bodies[0]["status"] == "accepted"
    # The same answer whether or not the address has an account.
    assert bodies[0] == bodies[1]


async def test_adding_sample_items_is_a_create_with_location(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await client.post(f"{tenant.ws}/samples", json={"name": "Regression"}, headers=tenant.headers)
    assert created.status_code == 201
    set_id = created.json()["id"]
    added = await client.post(
        f"{tenant.ws}/samples/{set_id}/items",
        json={"items": [{"input": "Where is order 4411?"}, {"input": "Cancel order 981"}]},
        headers=tenant.headers,
    )
    assert added.status_code == 201, added.text
    assert added.headers["location"] == f"/api/v1/workspaces/{tenant.workspace_id}/samples/{set_id}/items"
    assert added.json()["added"] == 2
    listed = (await client.get(added.headers["location"], headers=tenant.headers)).json()
    assert {item["id"] for item in listed["results"]} == {item["id"] for item in added.json()["items"]}


async def test_a_scan_of_an_agent_without_an_active_config_is_a_precondition(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent = await client.post(
        f"{tenant.ws}/agents", json={"name": "Bare", "slug": "bare"}, headers=tenant.headers
    )
    rubric = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": "Q", "dimensions": [{"key": "ok", "scorer": {"type": "no_error"}}]},
        headers=tenant.headers,
    )
    objective = await client.post(
        f"{tenant.ws}/evaluations/objectives",
        json={"name": "Q", "rubric_id": rubric.json()["id"], "weights": {"quality": 1}},
        headers=tenant.headers,
    )
    body = {
        "agent_id": agent.json()["id"],
        "rubric_id": rubric.json()["id"],
        "objective_id": objective.json()["id"],
    }
    response = await client.post(f"{tenant.ws}/scans", json=body, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/business-rule-violation")
    assert "no active config" in response.json()["detail"]
    schedule = await client.post(
        f"{tenant.ws}/scans/schedules",
        json={"name": "nightly", "cron": "0 3 * * *", "scan": body},
        headers=tenant.headers,
    )
    assert schedule.status_code == 400, schedule.text
    assert (await client.get(f"{tenant.ws}/scans", headers=tenant.headers)).json()["pagination"]["total"] == 0
    assert (await client.get(f"{tenant.ws}/scans/schedules", headers=tenant.headers)).json()["pagination"][
        "total"
    ] == 0
    unknown = await client.post(
        f"{tenant.ws}/scans", json={**body, "agent_id": str(uuid.uuid4())}, headers=tenant.headers
    )
    assert unknown.status_code == 404
