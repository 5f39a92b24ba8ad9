"""Account use cases: the caller's account, its members (the last owner always remains) and
invites (tokens mailed, stored hashed, 7 days, single use)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository as identity
from spectral.platform.identity.credentials import digest, new_token
from spectral.platform.identity.invites import INVITE_MAIL, accept_invite_for
from spectral.platform.identity.mail import SECRET_PLACEHOLDER, forget_mail_secrets, queue_mail
from spectral.platform.identity.models import Account, AccountMember, Invite, User
from spectral.platform.identity.principal import Principal
from spectral.platform.identity.schemas import InviteAccept
from spectral.platform.identity.scopes import AccountRole, WorkspaceRole
from spectral.platform.identity.service import get_active_user
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.errors import (
    BusinessRuleViolationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.workspaces.audit import record_audit
from spectral.platform.workspaces.schemas import (
    AccountMemberUpdate,
    AccountRead,
    AccountUpdate,
    InviteAccepted,
    InviteCreate,
    InviteRead,
    MemberRead,
    TenantRead,
)

INVITE_LIFETIME = timedelta(days=7)
LAST_OWNER = "The account's last owner cannot be removed or demoted; make someone else owner first"


async def _account(session: AsyncSession, principal: Principal) -> Account:
    account = (
        None if principal.account_id is None else await identity.get_account(session, principal.account_id)
    )
    if account is None:
        raise NotFoundError("You do not belong to an account")
    return account


def _read(account: Account) -> AccountRead:
    return AccountRead.model_validate(account, from_attributes=True)


def _member(member: AccountMember, user: User) -> MemberRead:
    return MemberRead(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=member.role,
        created_at=member.created_at,
    )


def _invite(invite: Invite) -> InviteRead:
    return InviteRead(
        id=invite.id,
        email=invite.email,
        role=AccountRole(invite.role),
        workspace_roles={uuid.UUID(k): WorkspaceRole(v) for k, v in invite.workspace_roles.items()},
        created_at=invite.created_at,
        expires_at=invite.expires_at,
        accepted_at=invite.accepted_at,
    )


async def get(session: AsyncSession, principal: Principal) -> AccountRead:
    return _read(await _account(session, principal))


async def update(session: AsyncSession, principal: Principal, body: AccountUpdate) -> AccountRead:
    account = await _account(session, principal)
    before = _read(account).model_dump(mode="json")
    account.name = body.name
    account.updated_at = utcnow()
    await session.flush()
    read = _read(account)
    await record_audit(
        session,
        principal,
        None,
        action="account.update",
        resource_type="account",
        resource_id=account.id,
        before=before,
        after=read.model_dump(mode="json"),
    )
    return read


async def list_members(session: AsyncSession, principal: Principal, page: PageParams) -> Page[MemberRead]:
    account = await _account(session, principal)
    rows, total = await identity.list_account_members(session, account.id, page)
    return Page.of([_member(m, u) for m, u in rows], total=total, params=page)


async def _caller_role(session: AsyncSession, principal: Principal, account: Account) -> AccountRole:
    assert principal.user_id is not None
    caller = await identity.account_membership(session, account.id, principal.user_id)
    assert caller is not None, "AccountAdmin resolved this account from the caller's memberships"
    return AccountRole(caller.role)


async def _target(session: AsyncSession, account: Account, user_id: uuid.UUID) -> tuple[AccountMember, User]:
    member = await identity.account_membership(session, account.id, user_id)
    user = await identity.get_user(session, user_id)
    if member is None or user is None:
        raise NotFoundError.for_resource("Account member", user_id)
    return member, user


async def _ensure_another_owner(session: AsyncSession, account: Account, leaving: uuid.UUID) -> None:
    owners = await identity.lock_account_owners(session, account.id)
    if not any(owner.user_id != leaving for owner in owners):
        raise BusinessRuleViolationError(LAST_OWNER)


async def update_member(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, body: AccountMemberUpdate
) -> MemberRead:
    account = await _account(session, principal)
    member, user = await _target(session, account, user_id)
    touches_owner = AccountRole.OWNER in (AccountRole(member.role), body.role)
    if touches_owner and await _caller_role(session, principal, account) is not AccountRole.OWNER:
        raise ForbiddenError("Only an owner can grant or take away the owner role")
    if member.role == AccountRole.OWNER.value and body.role is not AccountRole.OWNER:
        await _ensure_another_owner(session, account, user_id)
    before = {"role": member.role}
    member.role = body.role.value
    await session.flush()
    await record_audit(
        session,
        principal,
        None,
        action="account_member.update",
        resource_type="account_member",
        resource_id=user_id,
        before=before,
        after={"role": member.role},
    )
    return _member(member, user)


async def remove_member(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    account = await _account(session, principal)
    member, _ = await _target(session, account, user_id)
    if member.role == AccountRole.OWNER.value:
        if await _caller_role(session, principal, account) is not AccountRole.OWNER:
            raise ForbiddenError("Only an owner can remove an owner")
        await _ensure_another_owner(session, account, user_id)
    before = {"role": member.role}
    await identity.remove_workspace_memberships(session, account.id, user_id)
    await session.delete(member)
    await session.flush()
    await record_audit(
        session,
        principal,
        None,
        action="account_member.remove",
        resource_type="account_member",
        resource_id=user_id,
        before=before,
    )


async def create_invite(
    session: AsyncSession, principal: Principal, body: InviteCreate, *, public_url: str
) -> InviteRead:
    account = await _account(session, principal)
    if (
        body.role is AccountRole.OWNER
        and await _caller_role(session, principal, account) is not AccountRole.OWNER
    ):
        raise ForbiddenError("Only an owner can invite another owner")
    email = body.email.strip().lower()
    existing = await identity.get_user_by_email(session, email)
    if (
        existing is not None
        and await identity.account_membership(session, account.id, existing.id) is not None
    ):
        raise ConflictError("This user is already a member of the account")
    for workspace_id in body.workspace_roles:
        workspace = await identity.get_workspace(session, workspace_id)
        if workspace is None or workspace.account_id != account.id:
            raise BusinessRuleViolationError(f"Workspace {workspace_id} is not a workspace of this account")
    token = new_token()
    invite = Invite(
        account_id=account.id,
        email=email,
        role=body.role.value,
        workspace_roles={str(k): v.value for k, v in body.workspace_roles.items()},
        token_hash=digest(token),
        invited_by=principal.user_id,
        expires_at=utcnow() + INVITE_LIFETIME,
    )
    session.add(invite)
    await session.flush()
    await queue_mail(
        session,
        to=email,
        subject=f"You are invited to {account.name} on Spectral",
        body=(
            f"You have been invited to join {account.name} on Spectral.\n\n"
            f"Invite token: {SECRET_PLACEHOLDER}\n"
            f"Or open: {public_url.rstrip('/')}/invites/accept?token={SECRET_PLACEHOLDER}\n\n"
            "The invite works once, for 7 days."
        ),
        kind=INVITE_MAIL,
        secret=token,
        secret_expires_at=invite.expires_at,
    )
    read = _invite(invite)
    await record_audit(
        session,
        principal,
        None,
        action="invite.create",
        resource_type="invite",
        resource_id=invite.id,
        after=read.model_dump(mode="json"),
    )
    return read


async def list_invites(session: AsyncSession, principal: Principal, page: PageParams) -> Page[InviteRead]:
    account = await _account(session, principal)
    rows, total = await identity.list_pending_invites(session, account.id, page)
    return Page.of([_invite(i) for i in rows], total=total, params=page)


async def revoke_invite(session: AsyncSession, principal: Principal, invite_id: uuid.UUID) -> None:
    account = await _account(session, principal)
    invite = await identity.get_pending_invite(session, account.id, invite_id)
    if invite is None:
        raise NotFoundError.for_resource("Invite", invite_id)
    invite.revoked_at = utcnow()
    await session.flush()
    await forget_mail_secrets(session, to=invite.email, kind=INVITE_MAIL, token_hash=invite.token_hash)
    await record_audit(
        session, principal, None, action="invite.revoke", resource_type="invite", resource_id=invite.id
    )


async def accept_invite(session: AsyncSession, principal: Principal, body: InviteAccept) -> InviteAccepted:
    user = await get_active_user(session, principal.user_id)
    account_id, workspace_id = await accept_invite_for(session, user, body.token)
    return InviteAccepted(account_id=account_id, workspace_id=workspace_id)


async def tenant_overview(session: AsyncSession, page: PageParams) -> Page[TenantRead]:
    """Operations staff: every tenant account with its size."""
    rows, total = await identity.tenant_overview(session, page)
    return Page.of(
        [
            TenantRead(id=a.id, name=a.name, created_at=a.created_at, members=members, workspaces=workspaces)
            for a, members, workspaces in rows
        ],
        total=total,
        params=page,
    )
