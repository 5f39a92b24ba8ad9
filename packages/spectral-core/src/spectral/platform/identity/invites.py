"""Accepting an invite: the token is single use, expires, and must be redeemed by the user it
was addressed to (whoever holds the mailbox holds the token)."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.identity.credentials import digest
from spectral.platform.identity.errors import InvalidTokenError
from spectral.platform.identity.mail import forget_mail_secrets
from spectral.platform.identity.models import AccountMember, User, WorkspaceMember
from spectral.platform.identity.scopes import AccountRole, WorkspaceRole
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.errors import ConflictError

INVITE_MAIL = "invite"
INVALID_INVITE = "The invite token is invalid, already used, revoked or expired"


async def accept_invite_for(
    session: AsyncSession, user: User, token: str
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """Join the inviting account; returns (account id, first workspace joined or None)."""
    invite = await repository.lock_invite_by_hash(session, digest(token))
    now = utcnow()
    if (
        invite is None
        or invite.accepted_at is not None
        or invite.revoked_at is not None
        or as_utc(invite.expires_at) <= now
        or invite.email != user.email
    ):
        raise InvalidTokenError(INVALID_INVITE)
    if await repository.account_membership(session, invite.account_id, user.id) is not None:
        raise ConflictError("You are already a member of this account")
    session.add(
        AccountMember(account_id=invite.account_id, user_id=user.id, role=AccountRole(invite.role).value)
    )
    await session.flush()
    first_workspace: uuid.UUID | None = None
    for workspace_id, role in invite.workspace_roles.items():
        workspace = await repository.get_workspace(session, uuid.UUID(workspace_id))
        # A workspace deleted since the invite was sent is skipped, not an error.
        if workspace is None or workspace.account_id != invite.account_id:
            continue
        session.add(
            WorkspaceMember(workspace_id=workspace.id, user_id=user.id, role=WorkspaceRole(role).value)
        )
        first_workspace = first_workspace or workspace.id
    invite.accepted_at = now
    invite.accepted_by = user.id
    await session.flush()
    await forget_mail_secrets(session, to=invite.email, kind=INVITE_MAIL, token_hash=invite.token_hash)
    return invite.account_id, first_workspace
