"""Password reset. The request answers 202 whatever the email: the lookup, token and mail happen
in a job after the response, so neither the answer nor its timing tells whether an account
exists. Tokens are single use, stored hashed (the outbox keeps the plaintext only until the mail
is sent), and live 30 minutes; confirming one sets the new
password and ends every session of the user (the token generation moves on)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.identity.credentials import digest, new_token
from spectral.platform.identity.errors import InvalidTokenError
from spectral.platform.identity.mail import SECRET_PLACEHOLDER, forget_mail_secrets, queue_mail
from spectral.platform.identity.models import PasswordReset
from spectral.platform.identity.passwords import Passwords
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import JobQueue
from spectral.platform.shared.settings import Settings
from spectral.platform.shared.unit_of_work import defer_job, unit_of_work

RESET_JOB = "identity.password_reset"
RESET_MAIL = "password_reset"
RESET_LIFETIME = timedelta(minutes=30)
INVALID_RESET = "The reset token is invalid, already used or expired"


def request_reset(session: AsyncSession, email: str) -> None:
    # The job id is random: two requests for one address each get their own mail.
    defer_job(session, RESET_JOB, f"reset:{new_token()}", email=email.strip().lower())


async def send_reset(session: AsyncSession, email: str, *, public_url: str) -> None:
    user = await repository.get_user_by_email(session, email)
    if user is None or not user.is_active:
        return
    token = new_token()
    expires_at = utcnow() + RESET_LIFETIME
    session.add(PasswordReset(user_id=user.id, token_hash=digest(token), expires_at=expires_at))
    await session.flush()
    await queue_mail(
        session,
        to=user.email,
        subject="Reset your Spectral password",
        body=(
            "Someone asked to reset the password of your Spectral account.\n\n"
            f"Reset token: {SECRET_PLACEHOLDER}\n"
            f"Or open: {public_url.rstrip('/')}/reset-password?token={SECRET_PLACEHOLDER}\n\n"
            "The token works once, for 30 minutes. If you did not ask for this, ignore this mail."
        ),
        kind=RESET_MAIL,
        secret=token,
        secret_expires_at=expires_at,
    )


async def password_reset_job(ctx: dict[str, Any], *, email: str) -> None:
    settings: Settings = ctx["settings"]
    db: Database = ctx["db"]
    queue: JobQueue = ctx["queue"]
    # A unit of work, not a bare session: the mail delivery job is enqueued once this commits.
    async with unit_of_work(db, queue) as session:
        await send_reset(session, email, public_url=settings.public_url)


async def confirm_reset(
    session: AsyncSession, token: str, new_password: str, *, passwords: Passwords
) -> None:
    reset = await repository.lock_password_reset(session, digest(token))
    now = utcnow()
    if reset is None or reset.used_at is not None or as_utc(reset.expires_at) <= now:
        raise InvalidTokenError(INVALID_RESET)
    user = await repository.lock_user(session, reset.user_id)
    if user is None or not user.is_active:
        raise InvalidTokenError(INVALID_RESET)
    user.password_hash = await passwords.hash(new_password)
    user.token_generation += 1
    user.updated_at = now
    # Every outstanding reset of this user dies with the one used, and so do their tokens
    # still waiting in the outbox.
    for pending in await repository.pending_password_resets(session, user.id):
        pending.used_at = now
    await session.flush()
    await forget_mail_secrets(session, to=user.email, kind=RESET_MAIL)
