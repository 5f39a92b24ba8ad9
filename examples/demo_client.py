"""Set the demo workspace up over HTTP exactly as a user would, and follow its scans: used by
`make demo` and by the scan tests (in-process and end-to-end)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from demo_data import DemoWorkspace

DEMO_PASSWORD = "correct horse battery staple"
TERMINAL = {"succeeded", "failed", "cancelled"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(slots=True)
class SeededWorkspace:
    client: httpx.AsyncClient
    headers: dict[str, str]
    ws: str
    agent_id: str
    rubric_id: str
    objective_id: str

    async def api_key(self, scopes: list[str]) -> dict[str, str]:
        created = await self.client.post(
            f"{self.ws}/keys", json={"name": "agent", "scopes": scopes}, headers=self.headers
        )
        assert created.status_code == 201, created.text
        return bearer(created.json()["key"])

    async def start_scan(self, **extra: Any) -> httpx.Response:
        body = {
            "agent_id": self.agent_id,
            "rubric_id": self.rubric_id,
            "objective_id": self.objective_id,
            "seed": 3,
        }
        return await self.client.post(f"{self.ws}/scans", json={**body, **extra}, headers=self.headers)

    async def scan(self, scan_id: str) -> dict[str, Any]:
        response = await self.client.get(f"{self.ws}/scans/{scan_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        scan: dict[str, Any] = response.json()
        return scan

    async def wait_until(
        self, scan_id: str, done: Callable[[dict[str, Any]], bool], timeout_s: float = 180
    ) -> dict[str, Any]:
        """Poll the scan (as a client would) until `done(scan)`."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not done(scan := await self.scan(scan_id)):
            assert asyncio.get_running_loop().time() < deadline, (
                f"scan still {scan['status']} ({scan['phase']})"
            )
            await asyncio.sleep(0.1)
        return scan

    async def wait_for(
        self, scan_id: str, statuses: set[str] = TERMINAL, timeout_s: float = 180
    ) -> dict[str, Any]:
        return await self.wait_until(scan_id, lambda scan: scan["status"] in statuses, timeout_s)


async def seed_workspace(
    client: httpx.AsyncClient, demo: DemoWorkspace, replay_url: str | None
) -> SeededWorkspace:
    """Register a tenant and set it up: agent, rubric, objective, the traffic and its feedback."""
    registered = await client.post(
        "/api/v1/auth/register",
        json={
            "email": f"owner-{uuid.uuid4().hex[:12]}@example.com",
            "password": DEMO_PASSWORD,
            "tenant_name": "Acme",
        },
    )
    assert registered.status_code == 201, registered.text
    h = bearer(registered.json()["access_token"])
    ws = f"/api/v1/workspaces/{registered.json()['workspace_id']}"
    agent = await client.post(f"{ws}/agents", json=demo.agent_payload(replay_url), headers=h)
    assert agent.status_code == 201, agent.text
    rubric = await client.post(f"{ws}/evaluations/rubrics", json=demo.rubric_payload(), headers=h)
    assert rubric.status_code == 201, rubric.text
    objective = await client.post(
        f"{ws}/evaluations/objectives", json=demo.objective_payload(rubric.json()["id"]), headers=h
    )
    assert objective.status_code == 201, objective.text
    for spans in demo.span_batches():
        ingested = await client.post(f"{ws}/traces", json={"spans": spans}, headers=h)
        assert ingested.status_code in (200, 202), ingested.text
        assert ingested.json()["rejected"] == 0, ingested.text
    for trace_id, value in demo.feedback():
        given = await client.post(
            f"{ws}/traces/{trace_id}/feedback", json={"kind": "score", "value": value}, headers=h
        )
        assert given.status_code == 201, given.text
    # Autonomy `suggest` with the default guardrails (+10% cost, +10% p95 latency): the scan
    # recommends the fixes within them and reports the others as `reject`, naming the guardrail.
    autonomy = await client.put(f"{ws}/autonomy", json={"level": "suggest"}, headers=h)
    assert autonomy.status_code == 200, autonomy.text
    return SeededWorkspace(client, h, ws, agent.json()["id"], rubric.json()["id"], objective.json()["id"])
