"""Outgoing mail through an outbox: a use case writes the message in its own transaction and
defers a delivery job, so mail is sent only for changes that committed. Without
`SPECTRAL_SMTP_URL` messages stay in the outbox (tests and operators read them there).

A mail that carries a one-time token stores it apart from the body (`secret`, the body holds
`SECRET_PLACEHOLDER`): it is put in at delivery and forgotten once the mail is sent or the token
has expired, whichever comes first."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import uuid
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.identity.credentials import digest
from spectral.platform.identity.models import MailMessage
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings
from spectral.platform.shared.unit_of_work import defer_job

SEND_MAIL_JOB = "identity.send_mail"
# Where a mail's one-time token goes in its stored body; replaced only in the mail sent.
SECRET_PLACEHOLDER = "{{one-time token}}"
TOKEN_EXPIRED = "not sent: its one-time token expired first"
log = logging.getLogger("spectral.mail")


async def queue_mail(
    session: AsyncSession,
    *,
    to: str,
    subject: str,
    body: str,
    kind: str,
    secret: str | None = None,
    secret_expires_at: datetime | None = None,
) -> MailMessage:
    """Write a mail to the outbox. A `secret` goes where `body` says `SECRET_PLACEHOLDER`."""
    await repository.forget_expired_mail_secrets(session)
    message = MailMessage(
        to_address=to,
        subject=subject,
        body=body,
        kind=kind,
        secret=secret,
        secret_expires_at=secret_expires_at,
    )
    session.add(message)
    await session.flush()
    defer_job(session, SEND_MAIL_JOB, f"mail:{message.id}", message_id=str(message.id))
    return message


async def forget_mail_secrets(
    session: AsyncSession, *, to: str, kind: str, token_hash: str | None = None
) -> None:
    """A token that was used or revoked is of no more use in an unsent mail: drop it (only the
    one whose digest is `token_hash`, or every one of `kind` to `to` when none is given)."""
    for message in await repository.unsent_mail_secrets(session, to, kind):
        if token_hash is None or (message.secret is not None and digest(message.secret) == token_hash):
            message.secret = None
    await session.flush()


def rendered_body(message: MailMessage) -> str:
    return message.body.replace(SECRET_PLACEHOLDER, message.secret or "")


def _deliver(smtp_url: str, mail_from: str, message: MailMessage) -> None:
    """Blocking SMTP delivery (run in a thread). `smtp://` uses STARTTLS when offered,
    `smtps://` implicit TLS; credentials come from the URL's user info."""
    url = urlsplit(smtp_url)
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email.set_content(rendered_body(message))
    host, context = url.hostname or "localhost", ssl.create_default_context()
    smtp: smtplib.SMTP
    if url.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, url.port or 465, context=context, timeout=30)
    else:
        smtp = smtplib.SMTP(host, url.port or 25, timeout=30)
    with smtp:
        if url.scheme != "smtps" and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(email)


async def send_mail_job(ctx: dict[str, Any], *, message_id: str) -> None:
    settings: Settings = ctx["settings"]
    if not settings.smtp_url:
        return
    db: Database = ctx["db"]
    async with db.session() as session:
        message = await session.get(MailMessage, uuid.UUID(message_id))
        if message is None or message.sent_at is not None:
            return
        expires_at = message.secret_expires_at
        if expires_at is not None and as_utc(expires_at) <= utcnow():
            # A reset or invite mail whose token has lapsed would only confuse its reader.
            message.secret = None
            message.last_error = TOKEN_EXPIRED
            return
        message.attempts += 1
        try:
            await asyncio.to_thread(_deliver, settings.smtp_url, settings.mail_from, message)
        except (OSError, smtplib.SMTPException) as exc:
            message.last_error = str(exc)[:2000]
            log.warning("mail delivery failed", extra={"message_id": message_id, "error": str(exc)})
            return
        message.sent_at = utcnow()
        message.secret = None
