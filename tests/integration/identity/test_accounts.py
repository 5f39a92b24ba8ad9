"""Accounts: read/update, members and the last-owner rule, invites from creation to acceptance."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlmodel import col, select

from fixtures_identity import TEST_PASSWORD, Tenant, bearer
from spectral.platform.identity.models import Invite, MailMessage
from spectral.platform.identity.scopes import AccountRole
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.workspaces.models import AuditLogEntry

pytestmark = pytest.mark.both_backends


async def _invite_token(db: Database, queue: InProcessQueue, email: str) -> str:
    await queue.join()
    async with db.session() as session:
        message = (
            await session.exec(
                select(MailMessage)
                .where(MailMessage.to_address == email, MailMessage.kind == "invite")
                .order_by(col(MailMessage.created_at).desc())
            )
        ).first()
    assert message is not None
    assert message.secret is not None
    assert message.secret not in message.body
    return message.secret


async def _secrets_kept(db: Database, email: str) -> list[str | None]:
    async with db.session() as session:
        rows = await session.exec(
            select(MailMessage)
            .where(MailMessage.to_address == email, MailMessage.kind == "invite")
            .order_by(col(MailMessage.created_at))
        )
        return [m.secret for m in rows.all()]


async def _invite(client: httpx.AsyncClient, tenant: Tenant, email: str, **extra: object) -> httpx.Response:
    return await client.post(
        "/api/v1/account/invites", json={"email": email, **extra}, headers=tenant.headers
    )


async def test_read_and_rename_the_account(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    account = await client.get("/api/v1/account", headers=tenant.headers)
    assert account.json()["name"] == "Acme"
    renamed = await client.patch("/api/v1/account", json={"name": "Acme Corp"}, headers=tenant.headers)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Acme Corp"
    async with db.session() as session:
        entry = (
            await session.exec(select(AuditLogEntry).where(AuditLogEntry.action == "account.update"))
        ).one()
    assert entry.actor == f"user:{tenant.user_id}"
    assert entry.before is not None
    assert entry.before["name"] == "Acme"
    member = await tenant.member("viewer")
    assert (await client.patch("/api/v1/account", json={"name": "Mine"}, headers=member)).status_code == 403


async def test_invite_register_and_join(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, queue: InProcessQueue
) -> None:
    created = await _invite(
        client, tenant, "Newbie@Example.com", workspace_roles={str(tenant.workspace_id): "editor"}
    )
    assert created.status_code == 201
    assert "token" not in created.json()
    token = await _invite_token(db, queue, "newbie@example.com")
    async with db.session() as session:
        stored = (await session.exec(select(Invite))).one()
    assert token not in stored.token_hash
    listed = await client.get("/api/v1/account/invites", headers=tenant.headers)
    assert [i["email"] for i in listed.json()["results"]] == ["newbie@example.com"]

    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": "newbie@example.com", "password": TEST_PASSWORD, "invite_token": token},
    )
    assert registered.status_code == 201
    body = registered.json()
    assert body["account_id"] == str(tenant.account_id)
    assert body["workspace_id"] == str(tenant.workspace_id)
    me = (await client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))).json()
    assert me["workspaces"][0]["role"] == "editor"
    members = await client.get("/api/v1/account/members", headers=tenant.headers)
    assert {m["role"] for m in members.json()["results"]} == {"owner", "member"}

    again = await client.post(
        "/api/v1/auth/register",
        json={"email": "other@example.com", "password": TEST_PASSWORD, "invite_token": token},
    )
    assert again.status_code == 400
    assert (await client.get("/api/v1/account/invites", headers=tenant.headers)).json()["results"] == []
    # Used: the outbox no longer holds the token.
    assert await _secrets_kept(db, "newbie@example.com") == [None]


async def test_logged_in_user_accepts_an_invite(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, queue: InProcessQueue
) -> None:
    # An earlier invite to the same person: its token stays usable when a later one is used.
    assert (await _invite(client, tenant, other_tenant.email)).status_code == 201
    earlier = await _invite_token(db, queue, other_tenant.email)
    await _invite(client, tenant, other_tenant.email, role="admin")
    token = await _invite_token(db, queue, other_tenant.email)
    # Only the addressee may redeem it.
    outsider = await client.post(
        "/api/v1/account/invites/accept", json={"token": token}, headers=tenant.headers
    )
    assert outsider.status_code in (400, 409)
    accepted = await client.post(
        "/api/v1/account/invites/accept", json={"token": token}, headers=other_tenant.headers
    )
    assert accepted.status_code == 200
    assert accepted.json()["account_id"] == str(tenant.account_id)
    # As an account admin they now reach the inviting account's workspace.
    workspace = await client.get(tenant.ws, headers=other_tenant.headers)
    assert workspace.status_code == 200
    reuse = await client.post(
        "/api/v1/account/invites/accept", json={"token": token}, headers=other_tenant.headers
    )
    assert reuse.status_code == 400
    assert await _secrets_kept(db, other_tenant.email) == [earlier, None]


async def test_expired_and_revoked_invites_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, queue: InProcessQueue
) -> None:
    first = await _invite(client, tenant, "late@example.com")
    token = await _invite_token(db, queue, "late@example.com")
    async with db.session() as session:
        invite = await session.get(Invite, uuid.UUID(first.json()["id"]))
        assert invite is not None
        invite.expires_at = utcnow() - timedelta(seconds=1)
    late = await client.post(
        "/api/v1/auth/register",
        json={"email": "late@example.com", "password": TEST_PASSWORD, "invite_token": token},
    )
    assert late.status_code == 400

    second = await _invite(client, tenant, "revoked@example.com")
    revoked_token = await _invite_token(db, queue, "revoked@example.com")
    assert (
        await client.delete(f"/api/v1/account/invites/{second.json()['id']}", headers=tenant.headers)
    ).status_code == 204
    refused = await client.post(
        "/api/v1/auth/register",
        json={"email": "revoked@example.com", "password": TEST_PASSWORD, "invite_token": revoked_token},
    )
    assert refused.status_code == 400
    assert await _secrets_kept(db, "revoked@example.com") == [None]


async def test_invite_to_a_foreign_workspace_is_400(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await _invite(
        client, tenant, "x@example.com", workspace_roles={str(other_tenant.workspace_id): "viewer"}
    )
    assert response.status_code == 400


async def test_the_last_owner_cannot_leave_or_be_demoted(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, queue: InProcessQueue
) -> None:
    owner = f"/api/v1/account/members/{tenant.user_id}"
    demote = await client.patch(owner, json={"role": "admin"}, headers=tenant.headers)
    assert demote.status_code == 400
    assert demote.json()["type"].endswith("/business-rule-violation")
    assert (await client.delete(owner, headers=tenant.headers)).status_code == 400

    # With a second owner, the first may step down.
    await _invite(client, tenant, other_tenant.email, role="owner")
    token = await _invite_token(db, queue, other_tenant.email)
    await client.post("/api/v1/account/invites/accept", json={"token": token}, headers=other_tenant.headers)
    assert (await client.patch(owner, json={"role": "admin"}, headers=tenant.headers)).status_code == 200


async def test_admins_cannot_touch_owners_and_removal_drops_workspace_access(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    admin_headers = await tenant.member("viewer", account_role=AccountRole.ADMIN)
    owner = f"/api/v1/account/members/{tenant.user_id}"
    assert (await client.patch(owner, json={"role": "member"}, headers=admin_headers)).status_code == 403
    assert (await client.delete(owner, headers=admin_headers)).status_code == 403

    viewer = await tenant.member("viewer")
    assert (await client.get(tenant.ws, headers=viewer)).status_code == 200
    viewer_id = (await client.get("/api/v1/auth/me", headers=viewer)).json()["id"]
    assert (
        await client.delete(f"/api/v1/account/members/{viewer_id}", headers=tenant.headers)
    ).status_code == 204
    assert (await client.get(tenant.ws, headers=viewer)).status_code == 404
