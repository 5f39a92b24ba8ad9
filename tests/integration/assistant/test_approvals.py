"""Actions wait for a human: asking creates an approval (what, why, the exact request, the scope),
approving by a holder of that scope performs it as the approver (audited), anyone else is 403 with
nothing changed; deny closes it; an expired approval is 409; other tenants and users see 404."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from integration.assistant.assistant_support import Live, World, ask
from spectral.platform.assistant.models import Approval
from spectral.platform.identity.scopes import WorkspaceRole
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.workspaces.models import AuditLogEntry

pytestmark = pytest.mark.both_backends


async def _user_id(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    me = await client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200, me.text
    value: str = me.json()["id"]
    return value


async def _changeset(client: httpx.AsyncClient, world: World, changeset_id: uuid.UUID) -> dict[str, Any]:
    response = await client.get(f"{world.tenant.ws}/changesets/{changeset_id}", headers=world.tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _approvals(client: httpx.AsyncClient, world: World, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"{world.tenant.ws}/agent/approvals{query}", headers=world.tenant.headers)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def test_accept_waits_for_an_approver_and_is_performed_as_them(
    client: httpx.AsyncClient, world: World, db: Database
) -> None:
    ws = world.tenant.ws
    reply = await ask(client, world.tenant, "Accept the recommended change")
    [approval] = reply["approvals"]
    assert approval["tool"] == "accept_changeset"
    assert approval["status"] == "pending"
    assert approval["required_scope"] == "approve:agents"
    assert approval["request"] == {
        "method": "POST",
        "path": f"{ws}/changesets/{world.recommended_id}/accept",
        "body": None,
    }
    assert approval["reason"] == 'You asked: "Accept the recommended change"'
    assert str(approval["id"]) in reply["reply"]["content"]
    assert (await _changeset(client, world, world.recommended_id))["status"] == "proposed"
    assert [a["id"] for a in await _approvals(client, world, "?status=pending")] == [approval["id"]]

    # An editor may write but not approve agents: 403 naming the scope, nothing performed.
    editor = await world.tenant.member(WorkspaceRole.EDITOR)
    refused = await client.post(f"{ws}/agent/approvals/{approval['id']}/approve", headers=editor)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "approve:agents" in refused.json()["detail"]
    assert (await _changeset(client, world, world.recommended_id))["status"] == "proposed"
    assert (await _approvals(client, world))[0]["status"] == "pending"

    approver = await world.tenant.member(WorkspaceRole.APPROVER)
    approver_id = await _user_id(client, approver)
    done = await client.post(f"{ws}/agent/approvals/{approval['id']}/approve", headers=approver)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "approved"
    assert done.json()["decided_by"] == f"user:{approver_id}"
    assert done.json()["result"] == {
        "kind": "changeset",
        "id": str(world.recommended_id),
        "status": "accepted",
    }
    changeset = await _changeset(client, world, world.recommended_id)
    assert changeset["status"] == "accepted"
    assert changeset["decided_by"] == f"user:{approver_id}"

    async with db.session() as session:
        entries = (
            await session.exec(
                select(AuditLogEntry)
                .where(AuditLogEntry.workspace_id == world.tenant.workspace_id)
                .where(col(AuditLogEntry.action).in_(["assistant.approval.approve", "changeset.accept"]))
            )
        ).all()
    assert {(e.action, e.actor) for e in entries} == {
        ("assistant.approval.approve", f"user:{approver_id}"),
        ("changeset.accept", f"user:{approver_id}"),
    }
    [audit] = [e for e in entries if e.action == "assistant.approval.approve"]
    assert audit.after is not None
    assert audit.after["on_behalf_of_conversation"] == reply["conversation_id"]

    again = await client.post(f"{ws}/agent/approvals/{approval['id']}/approve", headers=approver)
    assert again.status_code == 400, again.text
    assert again.json()["type"].endswith("/invalid-transition")


async def test_start_a_scan_through_an_approval(live: Live) -> None:
    client, world = live.client, live.world
    ws = world.tenant.ws
    reply = await ask(client, world.tenant, "Start a scan of support-bot on last week's traces")
    [approval] = reply["approvals"]
    assert approval["tool"] == "start_scan"
    assert approval["required_scope"] == "write:workspace"
    request = approval["request"]
    assert (request["method"], request["path"]) == ("POST", f"{ws}/scans")
    body = request["body"]
    assert (body["agent_id"], body["rubric_id"], body["objective_id"]) == (
        world.agent_id,
        world.rubric_id,
        world.objective_id,
    )
    start, end = (body["window"]["start"], body["window"]["end"])
    assert start < end
    scans_before = await client.get(f"{ws}/scans", headers=world.tenant.headers)
    assert scans_before.json()["pagination"]["total"] == 0

    viewer = await world.tenant.member(WorkspaceRole.VIEWER)
    refused = await client.post(f"{ws}/agent/approvals/{approval['id']}/approve", headers=viewer)
    assert refused.status_code == 403, refused.text
    assert (await client.get(f"{ws}/scans", headers=world.tenant.headers)).json()["pagination"]["total"] == 0

    done = await client.post(f"{ws}/agent/approvals/{approval['id']}/approve", headers=world.tenant.headers)
    assert done.status_code == 200, done.text
    result = done.json()["result"]
    assert result["kind"] == "scan"
    scan = await client.get(result["location"], headers=world.tenant.headers)
    assert scan.status_code == 200, scan.text
    assert scan.json()["created_by"] == f"user:{world.tenant.user_id}"
    assert scan.json()["parameters"]["window"]["start"].startswith(start[:19])


async def test_deny_closes_without_acting(client: httpx.AsyncClient, world: World) -> None:
    ws = world.tenant.ws
    reply = await ask(client, world.tenant, f"Reject {world.inconclusive_id} because the gain is noise")
    [approval] = reply["approvals"]
    assert approval["request"]["body"] == {"reason": "the gain is noise"}

    # A viewer who did not ask and cannot reject may not deny it either.
    viewer = await world.tenant.member(WorkspaceRole.VIEWER)
    refused = await client.post(f"{ws}/agent/approvals/{approval['id']}/deny", headers=viewer)
    assert refused.status_code == 403, refused.text

    denied = await client.post(f"{ws}/agent/approvals/{approval['id']}/deny", headers=world.tenant.headers)
    assert denied.status_code == 200, denied.text
    assert denied.json()["status"] == "denied"
    assert (await _changeset(client, world, world.inconclusive_id))["status"] == "proposed"
    late = await client.post(f"{ws}/agent/approvals/{approval['id']}/approve", headers=world.tenant.headers)
    assert late.status_code == 400, late.text
    assert (await _changeset(client, world, world.inconclusive_id))["status"] == "proposed"
    assert [a["status"] for a in await _approvals(client, world, "?status=denied")] == ["denied"]


async def test_an_expired_approval_cannot_be_approved(
    client: httpx.AsyncClient, world: World, db: Database
) -> None:
    ws = world.tenant.ws
    reply = await ask(client, world.tenant, f"Please accept change set {world.recommended_id}")
    [approval] = reply["approvals"]
    async with db.session() as session:
        row = await session.get(Approval, uuid.UUID(approval["id"]))
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)

    expired = await client.post(
        f"{ws}/agent/approvals/{approval['id']}/approve", headers=world.tenant.headers
    )
    assert expired.status_code == 409, expired.text
    assert expired.json()["type"].endswith("/approval-expired")
    assert (await _changeset(client, world, world.recommended_id))["status"] == "proposed"
    assert [a["status"] for a in await _approvals(client, world, "?status=expired")] == ["expired"]
    assert await _approvals(client, world, "?status=pending") == []


async def test_conversations_and_approvals_are_private_to_their_tenant_and_user(
    client: httpx.AsyncClient, world: World, other_tenant: Any
) -> None:
    ws = world.tenant.ws
    reply = await ask(client, world.tenant, f"Roll back {world.recommended_id}")
    [approval] = reply["approvals"]
    conversation = reply["conversation_id"]

    # Another tenant, even addressing this workspace, gets 404 for everything.
    for method, path in [
        ("GET", f"{ws}/agent/conversations/{conversation}"),
        ("POST", f"{ws}/agent/approvals/{approval['id']}/approve"),
        ("POST", f"{ws}/agent/approvals/{approval['id']}/deny"),
    ]:
        response = await client.request(method, path, headers=other_tenant.headers)
        assert response.status_code == 404, response.text
    # ...and in their own workspace neither the conversation nor the approval exists.
    foreign_ws = other_tenant.ws
    assert (
        await client.get(f"{foreign_ws}/agent/conversations/{conversation}", headers=other_tenant.headers)
    ).status_code == 404
    assert (
        await client.post(
            f"{foreign_ws}/agent/approvals/{approval['id']}/approve", headers=other_tenant.headers
        )
    ).status_code == 404
    assert (await client.get(f"{foreign_ws}/agent/approvals", headers=other_tenant.headers)).json()[
        "results"
    ] == []

    # A colleague in the same workspace sees the approval, not the conversation.
    colleague = await world.tenant.member(WorkspaceRole.APPROVER)
    assert (
        await client.get(f"{ws}/agent/conversations/{conversation}", headers=colleague)
    ).status_code == 404
    message = await client.post(
        f"{ws}/agent/conversations/{conversation}/messages", json={"content": "hi"}, headers=colleague
    )
    assert message.status_code == 404, message.text
    listed = await client.get(f"{ws}/agent/approvals", headers=colleague)
    assert [a["id"] for a in listed.json()["results"]] == [approval["id"]]


async def test_an_action_on_a_missing_change_set_proposes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    missing = uuid.uuid4()
    reply = await ask(client, world.tenant, f"Accept change set {missing}")
    assert reply["approvals"] == []
    assert f"Change set {missing} not found" in reply["reply"]["content"]
    assert await _approvals(client, world) == []


async def test_a_bad_message_is_a_422_and_stores_nothing(client: httpx.AsyncClient, world: World) -> None:
    h = world.tenant.headers
    created = await client.post(f"{world.tenant.ws}/agent/conversations", headers=h)
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith(created.json()["id"])
    url = f"{world.tenant.ws}/agent/conversations/{created.json()['id']}"
    for body in ({}, {"content": ""}, {"content": "x" * 8001}, {"content": "hi", "extra": 1}):
        response = await client.post(f"{url}/messages", json=body, headers=h)
        assert response.status_code == 422, response.text
    assert (await client.get(url, headers=h)).json()["messages"]["pagination"]["total"] == 0


async def test_autonomy_needs_a_workspace_admin_to_approve(client: httpx.AsyncClient, world: World) -> None:
    ws = world.tenant.ws
    reply = await ask(client, world.tenant, "Set autonomy to suggest")
    [approval] = reply["approvals"]
    assert approval["required_scope"] == "admin:workspace"
    assert approval["request"]["method"] == "PUT"
    assert approval["request"]["body"]["level"] == "suggest"

    approver = await world.tenant.member(WorkspaceRole.APPROVER)
    refused = await client.post(f"{ws}/agent/approvals/{approval['id']}/approve", headers=approver)
    assert refused.status_code == 403, refused.text
    assert "admin:workspace" in refused.json()["detail"]
    assert (await client.get(f"{ws}/autonomy", headers=world.tenant.headers)).json()["level"] == "observe"

    done = await client.post(f"{ws}/agent/approvals/{approval['id']}/approve", headers=world.tenant.headers)
    assert done.status_code == 200, done.text
    assert (await client.get(f"{ws}/autonomy", headers=world.tenant.headers)).json()["level"] == "suggest"


async def test_an_approval_the_service_refuses_stays_pending(client: httpx.AsyncClient, world: World) -> None:
    """The change set has no scan, so no holdout: the validation service says 400, and the
    approval is still there to deny (nothing half-done)."""
    ws = world.tenant.ws
    reply = await ask(client, world.tenant, f"Run a validation of {world.recommended_id}")
    [approval] = reply["approvals"]
    assert approval["required_scope"] == "write:workspace"
    refused = await client.post(
        f"{ws}/agent/approvals/{approval['id']}/approve", headers=world.tenant.headers
    )
    assert refused.status_code == 400, refused.text
    assert "has no scan" in refused.json()["detail"]
    [still] = await _approvals(client, world)
    assert (still["status"], still["decided_by"]) == ("pending", None)
    runs = await client.get(
        f"{ws}/changesets/{world.recommended_id}/validation", headers=world.tenant.headers
    )
    assert runs.json()["pagination"]["total"] == 0


async def test_a_scan_without_a_named_window_takes_the_last_week(
    client: httpx.AsyncClient, world: World
) -> None:
    reply = await ask(client, world.tenant, "Run a scan of billing-bot")
    [approval] = reply["approvals"]
    assert approval["summary"] == "Start a scan of billing-bot on the traces of the last 7 days"
    assert approval["request"]["body"]["agent_id"] == world.other_agent_id
    asked_yesterday = await ask(client, world.tenant, "Run a scan of billing-bot on yesterday's traces")
    assert asked_yesterday["approvals"][0]["summary"].endswith("on the traces of the last 1 day")
