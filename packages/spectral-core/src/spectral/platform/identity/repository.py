"""All SQL of the identity context. Workspace-bound queries always filter by workspace, and a
soft-deleted workspace is invisible to every lookup."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity.models import (
    Account,
    AccountMember,
    ApiKey,
    Invite,
    MailMessage,
    OAuthIdentity,
    OAuthState,
    PasswordReset,
    RevokedToken,
    User,
    Workspace,
    WorkspaceMember,
)
from spectral.platform.identity.scopes import AccountRole
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.pagination import PageParams

ADMIN_ACCOUNT_ROLES = (AccountRole.OWNER.value, AccountRole.ADMIN.value)


# --- users -----------------------------------------------------------------------------------


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.exec(select(User).where(User.email == email.lower()))
    return result.first()


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user row, locked for update (a password change races a reset)."""
    result = await session.exec(select(User).where(User.id == user_id).with_for_update())
    return result.first()


# --- accounts --------------------------------------------------------------------------------


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def account_membership(
    session: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID
) -> AccountMember | None:
    return await session.get(AccountMember, (account_id, user_id))


async def account_memberships_of(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[tuple[AccountMember, Account]]:
    """The user's accounts, oldest membership first (the first is the user's home account)."""
    result = await session.exec(
        select(AccountMember, Account)
        .join(Account, col(Account.id) == col(AccountMember.account_id))
        .where(AccountMember.user_id == user_id)
        .order_by(col(AccountMember.created_at), col(Account.id))
    )
    return result.all()


async def operations_membership(session: AsyncSession, user_id: uuid.UUID) -> AccountMember | None:
    result = await session.exec(
        select(AccountMember)
        .join(Account, col(Account.id) == col(AccountMember.account_id))
        .where(AccountMember.user_id == user_id, col(Account.is_operations).is_(True))
    )
    return result.first()


async def get_operations_account(session: AsyncSession) -> Account | None:
    result = await session.exec(select(Account).where(col(Account.is_operations).is_(True)))
    return result.first()


# --- workspaces ------------------------------------------------------------------------------


async def get_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    result = await session.exec(
        select(Workspace).where(Workspace.id == workspace_id, col(Workspace.deleted_at).is_(None))
    )
    return result.first()


async def workspace_membership(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> WorkspaceMember | None:
    return await session.get(WorkspaceMember, (workspace_id, user_id))


async def visible_workspaces(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[tuple[Workspace, str | None, str | None]]:
    """Every live workspace the user can reach: (workspace, workspace role, account role).

    Reachable = a workspace membership, or owner/admin of the workspace's account."""
    member = sa.and_(
        col(WorkspaceMember.workspace_id) == col(Workspace.id), col(WorkspaceMember.user_id) == user_id
    )
    account_admin = sa.and_(
        col(AccountMember.account_id) == col(Workspace.account_id),
        col(AccountMember.user_id) == user_id,
        col(AccountMember.role).in_(ADMIN_ACCOUNT_ROLES),
    )
    result = await session.exec(
        select(Workspace, WorkspaceMember.role, AccountMember.role)
        .outerjoin(WorkspaceMember, member)
        .outerjoin(AccountMember, account_admin)
        .where(
            col(Workspace.deleted_at).is_(None),
            sa.or_(col(WorkspaceMember.user_id).is_not(None), col(AccountMember.user_id).is_not(None)),
        )
        .order_by(col(Workspace.created_at), col(Workspace.id))
    )
    return result.all()


# --- API keys --------------------------------------------------------------------------------


async def api_key_in_live_workspace(session: AsyncSession, key_hash: str) -> tuple[ApiKey, uuid.UUID] | None:
    """The key with this hash and its workspace's account, in one query (every agent request
    authenticates this way); None when there is no such key or its workspace was deleted."""
    result = await session.exec(
        select(ApiKey, Workspace.account_id)
        .join(Workspace, col(Workspace.id) == ApiKey.workspace_id)
        .where(ApiKey.key_hash == key_hash, col(Workspace.deleted_at).is_(None))
    )
    row = result.first()
    return None if row is None else (row[0], row[1])


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID, when: datetime) -> None:
    """Record that the key was used (callers write this at most once a minute per key)."""
    await session.exec(sa.update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=when))


async def get_api_key(session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
    result = await session.exec(
        select(ApiKey).where(
            ApiKey.workspace_id == workspace_id, ApiKey.id == key_id, col(ApiKey.revoked_at).is_(None)
        )
    )
    return result.first()


async def list_api_keys(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[ApiKey], int]:
    live = sa.and_(col(ApiKey.workspace_id) == workspace_id, col(ApiKey.revoked_at).is_(None))
    total = (await session.exec(select(sa.func.count()).select_from(ApiKey).where(live))).one()
    rows = await session.exec(
        select(ApiKey)
        .where(live)
        .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), int(total)


# --- revoked tokens --------------------------------------------------------------------------


async def revoke_token(session: AsyncSession, jti: str, expires_at: datetime) -> None:
    if await session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=expires_at))
        await session.flush()
    # Expired entries are of no further use; dropping them here keeps the table small.
    await session.exec(sa.delete(RevokedToken).where(col(RevokedToken.expires_at) < utcnow()))


async def is_token_revoked(session: AsyncSession, jti: str) -> bool:
    return await session.get(RevokedToken, jti) is not None


# --- invites ---------------------------------------------------------------------------------


async def lock_invite_by_hash(session: AsyncSession, token_hash: str) -> Invite | None:
    """Locked, so two concurrent acceptances of one token cannot both succeed."""
    result = await session.exec(select(Invite).where(Invite.token_hash == token_hash).with_for_update())
    return result.first()


# --- password resets -------------------------------------------------------------------------


async def lock_password_reset(session: AsyncSession, token_hash: str) -> PasswordReset | None:
    result = await session.exec(
        select(PasswordReset).where(PasswordReset.token_hash == token_hash).with_for_update()
    )
    return result.first()


async def pending_password_resets(session: AsyncSession, user_id: uuid.UUID) -> Sequence[PasswordReset]:
    result = await session.exec(
        select(PasswordReset).where(PasswordReset.user_id == user_id, col(PasswordReset.used_at).is_(None))
    )
    return result.all()


# --- mail outbox ----------------------------------------------------------------------------


async def unsent_mail_secrets(session: AsyncSession, to_address: str, kind: str) -> Sequence[MailMessage]:
    """Mails of `kind` to `to_address` that still hold a one-time token."""
    result = await session.exec(
        select(MailMessage).where(
            MailMessage.to_address == to_address,
            MailMessage.kind == kind,
            col(MailMessage.secret).is_not(None),
        )
    )
    return result.all()


async def forget_expired_mail_secrets(session: AsyncSession) -> None:
    """Drop the one-time tokens of mails that were never sent and whose tokens have expired."""
    await session.exec(
        sa.update(MailMessage)
        .where(col(MailMessage.secret).is_not(None), col(MailMessage.secret_expires_at) < utcnow())
        .values(secret=None)
    )


# --- members ---------------------------------------------------------------------------------


async def list_workspace_members(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[tuple[WorkspaceMember, User]], int]:
    where = col(WorkspaceMember.workspace_id) == workspace_id
    total = (await session.exec(select(sa.func.count()).select_from(WorkspaceMember).where(where))).one()
    rows = await session.exec(
        select(WorkspaceMember, User)
        .join(User, col(User.id) == col(WorkspaceMember.user_id))
        .where(where)
        .order_by(col(WorkspaceMember.created_at), col(User.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), int(total)


async def list_account_members(
    session: AsyncSession, account_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[tuple[AccountMember, User]], int]:
    where = col(AccountMember.account_id) == account_id
    total = (await session.exec(select(sa.func.count()).select_from(AccountMember).where(where))).one()
    rows = await session.exec(
        select(AccountMember, User)
        .join(User, col(User.id) == col(AccountMember.user_id))
        .where(where)
        .order_by(col(AccountMember.created_at), col(User.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), int(total)


async def lock_account_owners(session: AsyncSession, account_id: uuid.UUID) -> Sequence[AccountMember]:
    """The owners, locked: two concurrent demotions cannot both see "another owner remains"."""
    result = await session.exec(
        select(AccountMember)
        .where(AccountMember.account_id == account_id, AccountMember.role == AccountRole.OWNER.value)
        .with_for_update()
    )
    return result.all()


async def remove_workspace_memberships(
    session: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Only with the removal of the user's account membership, whose deletion (an ORM delete)
    is what invalidates the user's cached grants; this bulk delete is invisible to the caches."""
    in_account = select(Workspace.id).where(Workspace.account_id == account_id)
    await session.exec(
        sa.delete(WorkspaceMember).where(
            col(WorkspaceMember.user_id) == user_id, col(WorkspaceMember.workspace_id).in_(in_account)
        )
    )


async def count_workspace_members(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    query = (
        select(sa.func.count())
        .select_from(WorkspaceMember)
        .where(WorkspaceMember.workspace_id == workspace_id)
    )
    return int((await session.exec(query)).one())


async def count_active_api_keys(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    query = (
        select(sa.func.count())
        .select_from(ApiKey)
        .where(
            ApiKey.workspace_id == workspace_id,
            col(ApiKey.revoked_at).is_(None),
            sa.or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > utcnow()),
        )
    )
    return int((await session.exec(query)).one())


# --- invites of an account -------------------------------------------------------------------


async def list_pending_invites(
    session: AsyncSession, account_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Invite], int]:
    pending = sa.and_(
        col(Invite.account_id) == account_id,
        col(Invite.accepted_at).is_(None),
        col(Invite.revoked_at).is_(None),
        col(Invite.expires_at) > utcnow(),
    )
    total = (await session.exec(select(sa.func.count()).select_from(Invite).where(pending))).one()
    rows = await session.exec(
        select(Invite)
        .where(pending)
        .order_by(col(Invite.created_at).desc(), col(Invite.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), int(total)


async def get_pending_invite(
    session: AsyncSession, account_id: uuid.UUID, invite_id: uuid.UUID
) -> Invite | None:
    result = await session.exec(
        select(Invite).where(
            Invite.account_id == account_id,
            Invite.id == invite_id,
            col(Invite.accepted_at).is_(None),
            col(Invite.revoked_at).is_(None),
        )
    )
    return result.first()


# --- operations ------------------------------------------------------------------------------


async def tenant_overview(
    session: AsyncSession, page: PageParams
) -> tuple[Sequence[tuple[Account, int, int]], int]:
    """Every tenant account (not the operations account) with its member and workspace counts."""
    members = (
        select(sa.func.count())
        .select_from(AccountMember)
        .where(col(AccountMember.account_id) == col(Account.id))
        .scalar_subquery()
    )
    workspaces = (
        select(sa.func.count())
        .select_from(Workspace)
        .where(col(Workspace.account_id) == col(Account.id), col(Workspace.deleted_at).is_(None))
        .scalar_subquery()
    )
    tenants = col(Account.is_operations).is_(False)
    total = (await session.exec(select(sa.func.count()).select_from(Account).where(tenants))).one()
    rows = await session.exec(
        select(Account, members, workspaces)
        .where(tenants)
        .order_by(col(Account.created_at), col(Account.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), int(total)


# --- OAuth -----------------------------------------------------------------------------------


async def get_oauth_identity(session: AsyncSession, provider: str, subject: str) -> OAuthIdentity | None:
    result = await session.exec(
        select(OAuthIdentity).where(OAuthIdentity.provider == provider, OAuthIdentity.subject == subject)
    )
    return result.first()


async def take_oauth_state(session: AsyncSession, state_hash: str) -> OAuthState | None:
    """The pending sign-in for this state, deleted as it is read: a state works once."""
    result = await session.exec(
        select(OAuthState).where(OAuthState.state_hash == state_hash).with_for_update()
    )
    pending = result.first()
    if pending is not None:
        await session.delete(pending)
    # Abandoned sign-ins are of no further use.
    await session.exec(sa.delete(OAuthState).where(col(OAuthState.expires_at) < utcnow()))
    await session.flush()
    return pending
