"""Password reset: 202 whatever the email, mail through the outbox, single use, ends old sessions."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlmodel import col, select

from fixtures_identity import Tenant
from spectral.platform.identity.models import MailMessage, PasswordReset
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue

pytestmark = pytest.mark.both_backends


async def _outbox(db: Database, queue: InProcessQueue, to: str) -> list[MailMessage]:
    await queue.join()
    async with db.session() as session:
        rows = await session.exec(
            select(MailMessage).where(MailMessage.to_address == to).order_by(col(MailMessage.created_at))
        )
        return list(rows.all())


def _token(message: MailMessage) -> str:
    # Unsent (no SMTP in these tests): the token waits beside the body, never inside it.
    assert message.secret is not None
    assert message.secret not in message.body
    assert "Reset token: {{one-time token}}" in message.body
    return message.secret


async def test_request_is_202_for_known_and_unknown_emails(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, queue: InProcessQueue
) -> None:
    known = await client.post("/api/v1/auth/reset-password", json={"email": tenant.email.upper()})
    # The test database is one connection: let the first job finish before the second starts.
    await queue.join()
    unknown = await client.post("/api/v1/auth/reset-password", json={"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert len(await _outbox(db, queue, tenant.email)) == 1
    assert await _outbox(db, queue, "ghost@example.com") == []


async def test_confirm_sets_password_revokes_tokens_and_is_single_use(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, queue: InProcessQueue
) -> None:
    await client.post("/api/v1/auth/reset-password", json={"email": tenant.email})
    await queue.join()
    await client.post("/api/v1/auth/reset-password", json={"email": tenant.email})
    [_, message] = await _outbox(db, queue, tenant.email)
    assert message.kind == "password_reset"
    token = _token(message)
    async with db.session() as session:
        stored = (await session.exec(select(PasswordReset))).all()
    assert len(stored) == 2
    assert not any(token in reset.token_hash for reset in stored)

    body = {"token": token, "new_password": "a whole new password"}
    assert (await client.post("/api/v1/auth/reset-password/confirm", json=body)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 401
    login = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": "a whole new password"}
    )
    assert login.status_code == 200

    reuse = await client.post("/api/v1/auth/reset-password/confirm", json=body)
    assert reuse.status_code == 400
    assert reuse.headers["content-type"] == "application/problem+json"
    # Every reset token of the user died with the one used; the outbox keeps none of them.
    assert [m.secret for m in await _outbox(db, queue, tenant.email)] == [None, None]


async def test_expired_reset_token_is_400(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, queue: InProcessQueue
) -> None:
    await client.post("/api/v1/auth/reset-password", json={"email": tenant.email})
    token = _token((await _outbox(db, queue, tenant.email))[0])
    async with db.session() as session:
        reset = (await session.exec(select(PasswordReset))).one()
        reset.expires_at = utcnow() - timedelta(minutes=1)
    response = await client.post(
        "/api/v1/auth/reset-password/confirm", json={"token": token, "new_password": "another password"}
    )
    assert response.status_code == 400


async def test_reset_requests_are_rate_limited(client: httpx.AsyncClient, queue: InProcessQueue) -> None:
    statuses = []
    for _ in range(11):
        statuses.append(
            (await client.post("/api/v1/auth/reset-password", json={"email": "spam@example.com"})).status_code
        )
        await queue.join()
    assert statuses == [202] * 10 + [429]
