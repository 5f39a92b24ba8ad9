"""Mail leaves the outbox through SMTP when `SPECTRAL_SMTP_URL` is set: a minimal SMTP server on
loopback receives the password-reset mail."""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_string, policy

import httpx
import pytest
from sqlmodel import col, select

from fixtures_identity import Tenant
from spectral.platform.identity.mail import TOKEN_EXPIRED, send_mail_job
from spectral.platform.identity.models import MailMessage
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Settings


class SmtpSink(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.messages: list[tuple[str, list[str], str]] = []


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def _reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        server: SmtpSink = self.server  # type: ignore[assignment]
        sender, recipients = "", []
        self._reply("220 sink ready")
        while raw := self.rfile.readline():
            command = raw.decode().strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 sink")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].strip()
                self._reply("250 ok")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self._reply("250 ok")
            elif verb == "DATA":
                self._reply("354 go ahead")
                lines = []
                while (line := self.rfile.readline().decode()) not in (".\r\n", ".\n", ""):
                    lines.append(line)
                server.messages.append((sender, recipients, "".join(lines)))
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 ok")


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    yield sink
    sink.shutdown()
    sink.server_close()


async def test_reset_mail_is_sent_over_smtp(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    smtp_sink: SmtpSink,
    db: Database,
    queue: InProcessQueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "smtp_url", f"smtp://127.0.0.1:{smtp_sink.server_address[1]}")
    assert (await client.post("/api/v1/auth/reset-password", json={"email": tenant.email})).status_code == 202
    await queue.join()
    [(sender, recipients, data)] = smtp_sink.messages
    assert "no-reply@spectral.local" in sender
    assert recipients == [tenant.email]
    assert "Reset your Spectral password" in data
    text = message_from_string(data, policy=policy.default).get_content()
    match = re.search(r"Reset token: ([A-Za-z0-9_-]{43})", text)
    assert match is not None, text
    token = match.group(1)
    assert f"/reset-password?token={token}" in text
    async with db.session() as session:
        message = (await session.exec(select(MailMessage))).one()
    assert message.sent_at is not None
    assert message.attempts == 1
    # Sent: the outbox forgets the token; what it keeps cannot reset anything.
    assert message.secret is None
    assert token not in message.body
    assert "Reset token: {{one-time token}}" in message.body
    # The mailed token is the one that works.
    confirm = await client.post(
        "/api/v1/auth/reset-password/confirm", json={"token": token, "new_password": "a fresh passphrase"}
    )
    assert confirm.status_code == 204


async def test_a_mail_whose_token_expired_is_not_sent_and_forgets_it(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    smtp_sink: SmtpSink,
    db: Database,
    queue: InProcessQueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Queued while SMTP was down (unset): the mail waits in the outbox with its token.
    assert (await client.post("/api/v1/auth/reset-password", json={"email": tenant.email})).status_code == 202
    await queue.join()
    async with db.session() as session:
        message = (await session.exec(select(MailMessage))).one()
        assert message.secret is not None
        message.secret_expires_at = utcnow() - timedelta(seconds=1)
        message_id = message.id
    monkeypatch.setattr(settings, "smtp_url", f"smtp://127.0.0.1:{smtp_sink.server_address[1]}")
    await send_mail_job({"settings": settings, "db": db}, message_id=str(message_id))
    assert smtp_sink.messages == []
    async with db.session() as session:
        message = (await session.exec(select(MailMessage))).one()
    assert message.sent_at is None
    assert message.secret is None
    assert message.last_error == TOKEN_EXPIRED


async def test_expired_tokens_of_unsent_mail_are_forgotten(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, queue: InProcessQueue
) -> None:
    assert (await client.post("/api/v1/auth/reset-password", json={"email": tenant.email})).status_code == 202
    await queue.join()
    async with db.session() as session:
        message = (await session.exec(select(MailMessage))).one()
        message.secret_expires_at = utcnow() - timedelta(seconds=1)
    # The next mail written to the outbox sweeps expired tokens out.
    assert (await client.post("/api/v1/auth/reset-password", json={"email": tenant.email})).status_code == 202
    await queue.join()
    async with db.session() as session:
        messages = (await session.exec(select(MailMessage).order_by(col(MailMessage.created_at)))).all()
    assert [m.secret is None for m in messages] == [True, False]
