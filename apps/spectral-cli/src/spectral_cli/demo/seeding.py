"""Set the demo workspace up over HTTP exactly as a user would, and follow its scans: used by
`spectral demo` and by the scan tests (in-process, end-to-end and the CLI's)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from spectral_cli.demo.polling import poll_until, request_with_backoff
from spectral_cli.demo.workspace import DemoWorkspace

DEMO_PASSWORD = "correct horse battery staple"
TERMINAL = {"succeeded", "failed", "cancelled"}


class SeedingError(RuntimeError):
    """The server refused a step of the seeding: the response says why."""


def _expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise SeedingError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(slots=True)
class SeededWorkspace:
    client: httpx.AsyncClient
    email: str
    headers: dict[str, str]
    ws: str
    agent_id: str
    rubric_id: str
    objective_id: str

    async def api_key(self, scopes: list[str]) -> dict[str, str]:
        created = _expect(
            await self.client.post(
                f"{self.ws}/keys", json={"name": "agent", "scopes": scopes}, headers=self.headers
            ),
            201,
        )
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
        response = _expect(
            await request_with_backoff(
                self.client, "GET", f"{self.ws}/scans/{scan_id}", headers=self.headers
            ),
            200,
        )
        scan: dict[str, Any] = response.json()
        return scan

    async def wait_until(
        self, scan_id: str, done: Callable[[dict[str, Any]], bool], timeout_s: float = 900
    ) -> dict[str, Any]:
        """Poll the scan (as a client would: backing off, honouring Retry-After) until `done(scan)`."""
        return await poll_until(
            lambda: self.scan(scan_id),
            done,
            timeout_s=timeout_s,
            describe=lambda scan: f"scan still {scan['status']} ({scan['phase']})",
        )

    async def wait_for(
        self, scan_id: str, statuses: set[str] = TERMINAL, timeout_s: float = 900
    ) -> dict[str, Any]:
        return await self.wait_until(scan_id, lambda scan: scan["status"] in statuses, timeout_s)


async def seed_workspace(
    client: httpx.AsyncClient,
    demo: DemoWorkspace,
    replay_url: str | None,
    *,
    email: str | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> SeededWorkspace:
    """Register a tenant and set it up: agent, rubric, objective, the traffic and its feedback.
    `on_batch(n_spans)` is told after each ingested batch (a progress bar)."""
    email = email or f"owner-{uuid.uuid4().hex[:12]}@example.com"
    registered = _expect(
        await client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": DEMO_PASSWORD, "tenant_name": "Acme"},
        ),
        201,
    )
    h = bearer(registered.json()["access_token"])
    ws = f"/api/v1/workspaces/{registered.json()['workspace_id']}"
    agent = _expect(await client.post(f"{ws}/agents", json=demo.agent_payload(replay_url), headers=h), 201)
    rubric = _expect(
        await client.post(f"{ws}/evaluations/rubrics", json=demo.rubric_payload(), headers=h), 201
    )
    objective = _expect(
        await client.post(
            f"{ws}/evaluations/objectives", json=demo.objective_payload(rubric.json()["id"]), headers=h
        ),
        201,
    )
    for spans in demo.span_batches():
        ingested = _expect(await client.post(f"{ws}/traces", json={"spans": spans}, headers=h), 200, 202)
        if ingested.json()["rejected"]:
            raise SeedingError(f"the server rejected demo spans: {ingested.text}")
        if on_batch is not None:
            on_batch(len(spans))
    for trace_id, value in demo.feedback():
        _expect(
            await client.post(
                f"{ws}/traces/{trace_id}/feedback", json={"kind": "score", "value": value}, headers=h
            ),
            201,
        )
    # The supervisor may scan the demo nightly and suggest change sets (it applies none). The
    # guardrails stay the workspace's defaults: the demo agent's fixes are judged as a real one's.
    _expect(await client.put(f"{ws}/autonomy", json={"level": "suggest"}, headers=h), 200)
    return SeededWorkspace(
        client, email, h, ws, agent.json()["id"], rubric.json()["id"], objective.json()["id"]
    )
