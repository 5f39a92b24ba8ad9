"""Issue 10 item 9: writers that allocate numbers or change a change set's status are serialised.
Twenty concurrent requests against a real server (uvicorn on 127.0.0.1), on both backends: every
one succeeds or gets a clean 4xx, numbers are contiguous, nothing is lost."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from conftest import LiveApi
from fixtures_identity import TEST_PASSWORD
from spectral.platform.changesets.models import ChangeSet
from spectral.platform.shared.db import Database

pytestmark = pytest.mark.both_backends

CONCURRENT = 20
CONFIG = {"model": "gpt-4o", "params": {"temperature": 0.2}, "templates": {"system": "You are terse."}}


async def _owner(http: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    response = await http.post(
        "/api/v1/auth/register",
        json={
            "email": f"race-{uuid.uuid4().hex[:8]}@example.com",
            "password": TEST_PASSWORD,
            "tenant_name": "Race",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"Authorization": f"Bearer {body['access_token']}"}, f"/api/v1/workspaces/{body['workspace_id']}"


async def _agent(http: httpx.AsyncClient, headers: dict[str, str], ws: str) -> str:
    response = await http.post(
        f"{ws}/agents", json={"name": "Racer", "slug": "racer", "config": CONFIG}, headers=headers
    )
    assert response.status_code == 201, response.text
    agent_id: str = response.json()["id"]
    return agent_id


async def test_concurrent_config_versions_get_contiguous_numbers(live_api: LiveApi) -> None:
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=live_api.url, timeout=60, limits=limits) as http:
        headers, ws = await _owner(http)
        agent = await _agent(http, headers, ws)

        async def create(i: int) -> httpx.Response:
            body = {**CONFIG, "params": {"temperature": 0.01 * i}, "note": f"writer {i}"}
            return await http.post(f"{ws}/agents/{agent}/versions", json=body, headers=headers)

        responses = await asyncio.gather(*(create(i) for i in range(CONCURRENT)))
        assert [r.status_code for r in responses] == [201] * CONCURRENT, [
            r.text for r in responses if r.status_code != 201
        ]
        numbers = sorted(r.json()["number"] for r in responses)
        assert numbers == list(range(2, CONCURRENT + 2))
        listed = await http.get(f"{ws}/agents/{agent}/versions", params={"limit": 200}, headers=headers)
        stored = listed.json()["results"]
        assert sorted(v["number"] for v in stored) == list(range(1, CONCURRENT + 2))
        assert {v["note"] for v in stored} >= {f"writer {i}" for i in range(CONCURRENT)}


async def test_concurrent_accepts_of_one_change_set_promote_once(live_api: LiveApi) -> None:
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=live_api.url, timeout=60, limits=limits) as http:
        headers, ws = await _owner(http)
        agent = await _agent(http, headers, ws)
        workspace_id = uuid.UUID(ws.rsplit("/", 1)[1])
        database = Database(live_api.settings.resolved_database_url, pool_size=1)
        changeset = ChangeSet(
            workspace_id=workspace_id,
            agent_id=uuid.UUID(agent),
            status="proposed",
            strategy="params",
            title="Cooler",
            rationale="lower temperature",
            verdict="recommend",
            diff=[{"kind": "set_param", "key": "temperature", "before": 0.2, "after": 0.1}],
            candidate_config={**CONFIG, "params": {"temperature": 0.1}},
            base_version_number=1,
            evidence_trace_ids=[],
            expected_impact={},
        )
        try:
            async with database.session() as session:
                session.add(changeset)
        finally:
            await database.dispose()

        responses = await asyncio.gather(
            *(http.post(f"{ws}/changesets/{changeset.id}/accept", headers=headers) for _ in range(CONCURRENT))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [400] * (CONCURRENT - 1), [
            r.text for r in responses if r.status_code >= 500
        ]
        assert all(
            r.json()["type"].endswith("/invalid-transition") for r in responses if r.status_code == 400
        )
        versions = (await http.get(f"{ws}/agents/{agent}/versions", headers=headers)).json()
        assert versions["pagination"]["total"] == 2
        detail = (await http.get(f"{ws}/changesets/{changeset.id}", headers=headers)).json()
        assert detail["status"] == "accepted"
        assert detail["promoted_version_number"] == 2
