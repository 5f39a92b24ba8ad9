"""Mail leaves the outbox through SMTP when `SPECTRAL_SMTP_URL` is set: a minimal SMTP server on
loopback receives the password-reset mail."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlmodel import select

from fixtures_identity import Tenant
from spectral.platform.identity.models import MailMessage
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
    assert "Reset token:" in data
    async with db.session() as session:
        message = (await session.exec(select(MailMessage))).one()
    assert message.sent_at is not None
    assert message.attempts == 1
