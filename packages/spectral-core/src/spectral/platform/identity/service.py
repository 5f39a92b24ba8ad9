"""Authentication use cases: register, log in and out, the caller's profile. Services flush,
never commit: the request's unit of work owns the transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.identity.access import account_scopes
from spectral.platform.identity.errors import InvalidCredentialsError
from spectral.platform.identity.invites import accept_invite_for
from spectral.platform.identity.login_throttle import LoginThrottle
from spectral.platform.identity.models import Account, AccountMember, User, Workspace, WorkspaceMember
from spectral.platform.identity.passwords import Passwords
from spectral.platform.identity.revocation import RevokedTokens
from spectral.platform.identity.schemas import (
    AccountMembershipRead,
    LoginRequest,
    LoginResponse,
    MeRead,
    MeUpdate,
    PasswordChange,
    RegisterRequest,
    RegisterResponse,
    WorkspaceMembershipRead,
)
from spectral.platform.identity.scopes import (
    WORKSPACE_ROLE_SCOPES,
    AccountRole,
    WorkspaceRole,
    effective_workspace_role,
)
from spectral.platform.identity.tokens import LOG_IN_AGAIN, TokenCodec
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.errors import (
    AuthenticationError,
    BusinessRuleViolationError,
    ConflictError,
    ForbiddenError,
)
from spectral.platform.shared.read_cache import invalidate

DEFAULT_WORKSPACE_NAME = "Default"


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def _add_user(session: AsyncSession, email: str, password_hash: str | None) -> User:
    if await repository.get_user_by_email(session, email) is not None:
        raise ConflictError("A user with this email already exists")
    user = User(email=email, password_hash=password_hash)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise ConflictError("A user with this email already exists") from exc
    return user


async def create_tenant(session: AsyncSession, owner: User, tenant_name: str) -> tuple[Account, Workspace]:
    """A new account with `owner` as its owner and a first workspace."""
    account = Account(name=tenant_name)
    workspace = Workspace(account_id=account.id, name=DEFAULT_WORKSPACE_NAME)
    session.add(account)
    await session.flush()
    session.add(workspace)
    session.add(AccountMember(account_id=account.id, user_id=owner.id, role=AccountRole.OWNER.value))
    await session.flush()
    session.add(WorkspaceMember(workspace_id=workspace.id, user_id=owner.id, role=WorkspaceRole.ADMIN.value))
    await session.flush()
    return account, workspace


async def register(
    session: AsyncSession, body: RegisterRequest, *, passwords: Passwords, tokens: TokenCodec
) -> RegisterResponse:
    email = normalise_email(body.email)
    user = await _add_user(session, email, await passwords.hash(body.password))
    if body.invite_token is not None:
        account_id, workspace_id = await accept_invite_for(session, user, body.invite_token)
    else:
        assert body.tenant_name is not None  # the schema requires one of the two
        account, workspace = await create_tenant(session, user, body.tenant_name)
        account_id, workspace_id = account.id, workspace.id
    issued = tokens.issue(user.id, generation=user.token_generation)
    return RegisterResponse(
        user_id=user.id,
        account_id=account_id,
        workspace_id=workspace_id,
        access_token=issued.token,
        expires_in=issued.expires_in,
    )


async def login(
    session: AsyncSession,
    body: LoginRequest,
    *,
    source: str,
    throttle: LoginThrottle,
    passwords: Passwords,
    tokens: TokenCodec,
) -> LoginResponse:
    """`source` is the client's address as the rate limits count it (see `client_address`)."""
    email = normalise_email(body.email)
    await throttle.attempt(email, source)
    user = await repository.get_user_by_email(session, email)
    # verify() spends the same argon2 work when the user is unknown: no timing oracle.
    valid = await passwords.verify(user.password_hash if user else None, body.password)
    if user is None or not valid or not user.is_active or user.password_hash is None:
        await throttle.failed(source)
        raise InvalidCredentialsError()
    await throttle.succeeded(email, source)
    # Hashes made with older parameters (or a weaker profile) are upgraded while the password is
    # at hand: the only moment it is.
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(body.password)
        await session.flush()
    return await issue_session(session, user, tokens=tokens)


async def issue_session(session: AsyncSession, user: User, *, tokens: TokenCodec) -> LoginResponse:
    issued = tokens.issue(user.id, generation=user.token_generation)
    account_id, _ = await account_scopes(session, user.id)
    return LoginResponse(
        access_token=issued.token,
        expires_in=issued.expires_in,
        user_id=user.id,
        account_id=account_id,
        workspaces=await workspace_memberships(session, user.id),
    )


async def logout(session: AsyncSession, token: str, *, tokens: TokenCodec, revoked: RevokedTokens) -> None:
    claims = tokens.decode(token)
    await revoked.revoke(claims.jti, claims.expires_at)
    # Every process may hold the token's grants (`access.UserCache`); the revoked token is not a
    # row that names its user, so the user's cached grants are invalidated here.
    await invalidate(session, claims.user_id)


async def workspace_memberships(session: AsyncSession, user_id: uuid.UUID) -> list[WorkspaceMembershipRead]:
    result = []
    for workspace, workspace_role, account_role in await repository.visible_workspaces(session, user_id):
        role = effective_workspace_role(
            WorkspaceRole(workspace_role) if workspace_role else None,
            AccountRole(account_role) if account_role else None,
        )
        if role is None:
            continue
        result.append(
            WorkspaceMembershipRead(
                id=workspace.id,
                name=workspace.name,
                account_id=workspace.account_id,
                role=role,
                scopes=sorted(WORKSPACE_ROLE_SCOPES[role]),
            )
        )
    return result


async def get_active_user(session: AsyncSession, user_id: uuid.UUID | None) -> User:
    user = None if user_id is None else await repository.get_user(session, user_id)
    if user is None or not user.is_active:
        raise AuthenticationError(f"The access token is no longer valid; {LOG_IN_AGAIN}")
    return user


async def me(session: AsyncSession, user_id: uuid.UUID | None) -> MeRead:
    user = await get_active_user(session, user_id)
    memberships = await repository.account_memberships_of(session, user.id)
    _, scopes = await account_scopes(session, user.id)
    return MeRead(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        created_at=user.created_at,
        accounts=[
            AccountMembershipRead(
                id=account.id,
                name=account.name,
                role=AccountRole(member.role),
                is_operations=account.is_operations,
            )
            for member, account in memberships
        ],
        workspaces=await workspace_memberships(session, user.id),
        scopes=sorted(scopes),
    )


async def _check_current_password(
    user: User, password: str, *, source: str, throttle: LoginThrottle, passwords: Passwords
) -> bool:
    """Whether `password` is the user's: throttled like a login, since a stolen token could
    otherwise guess the password through this check."""
    await throttle.attempt(user.email, source)
    if not await passwords.verify(user.password_hash, password):
        await throttle.failed(source)
        return False
    await throttle.succeeded(user.email, source)
    return True


async def update_me(
    session: AsyncSession,
    user_id: uuid.UUID | None,
    body: MeUpdate,
    *,
    source: str,
    throttle: LoginThrottle,
    passwords: Passwords,
) -> MeRead:
    """Change the profile. A new email needs the current password: the email is what a password
    reset goes to, so whoever changes it could take the account over for good."""
    user = await get_active_user(session, user_id)
    changes = body.model_dump(exclude_unset=True, exclude={"current_password"})
    email = None if changes.get("email") is None else normalise_email(changes["email"])
    if email is not None and email != user.email:
        if user.password_hash is None:
            raise ForbiddenError(
                "This account has no password; set one with a password reset before changing the email"
            )
        if body.current_password is None:
            raise BusinessRuleViolationError("Changing the email needs current_password")
        if not await _check_current_password(
            user, body.current_password, source=source, throttle=throttle, passwords=passwords
        ):
            raise ForbiddenError("The current password is incorrect")
        existing = await repository.get_user_by_email(session, email)
        if existing is not None and existing.id != user.id:
            raise ConflictError("A user with this email already exists")
        user.email = email
    if "display_name" in changes:
        user.display_name = changes["display_name"] or None
    user.updated_at = utcnow()
    try:
        await session.flush()
    except IntegrityError as exc:
        raise ConflictError("A user with this email already exists") from exc
    return await me(session, user.id)


async def change_password(
    session: AsyncSession,
    user_id: uuid.UUID | None,
    body: PasswordChange,
    *,
    source: str,
    throttle: LoginThrottle,
    passwords: Passwords,
    tokens: TokenCodec,
) -> LoginResponse:
    """Set a new password; every existing token stops working and a fresh one is returned."""
    user = await get_active_user(session, user_id)
    if not await _check_current_password(
        user, body.current_password, source=source, throttle=throttle, passwords=passwords
    ):
        raise BusinessRuleViolationError("The current password is incorrect")
    user.password_hash = await passwords.hash(body.new_password)
    user.token_generation += 1
    user.updated_at = utcnow()
    await session.flush()
    return await issue_session(session, user, tokens=tokens)
