"""Who may do what, resolved per request from the current memberships (a role change applies at
once): authentication of a JWT or API key, tenancy (another tenant's workspace is *not found*),
and the route's required scopes (403 naming the missing one)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.identity.credentials import digest, looks_like_api_key
from spectral.platform.identity.models import User, Workspace
from spectral.platform.identity.principal import Principal, PrincipalKind
from spectral.platform.identity.revocation import RevokedTokens
from spectral.platform.identity.scopes import (
    ACCOUNT_ADMIN_ROLES,
    API_KEY_SCOPES,
    OPERATIONS_ROLE_SCOPES,
    WORKSPACE_ROLE_SCOPES,
    AccountRole,
    OperationsRole,
    Scope,
    WorkspaceRole,
    effective_workspace_role,
)
from spectral.platform.identity.tokens import LOG_IN_AGAIN, AccessClaims, TokenCodec
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.errors import (
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
)
from spectral.platform.shared.read_cache import ReadCache

# Writing `last_used_at` on every request would turn each key use into a row update.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class AccessRequest:
    required: frozenset[Scope]
    # The workspace named by the route's path, if the route is workspace-scoped.
    path_workspace_id: uuid.UUID | None = None
    header_workspace_id: uuid.UUID | None = None
    # OTLP ingest: the workspace comes from the key (or, for a JWT, from X-Workspace-Id).
    ingest: bool = False


def workspace_not_found(workspace_id: uuid.UUID) -> NotFoundError:
    return NotFoundError.for_resource("Workspace", workspace_id)


def missing_scopes_error(missing: Sequence[str], *, api_key: bool, needed_for: str = "") -> ForbiddenError:
    """The 403 naming the scopes a principal lacks and what to do about it."""
    remedy = (
        f'this API key was created without it; create one with "scopes": {json.dumps(list(missing))}'
        if api_key
        else "your role in this workspace does not grant it; ask a workspace admin for a role that does"
    )
    needed = f" for {needed_for}" if needed_for else ""
    return ForbiddenError(
        f"Missing scope{needed}: {', '.join(missing)} ({remedy})", extra={"missing_scopes": list(missing)}
    )


def _require(granted: frozenset[Scope], required: frozenset[Scope], *, api_key: bool) -> None:
    missing = sorted(required - granted)
    if missing:
        raise missing_scopes_error(missing, api_key=api_key)


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """What authenticating an API key needs from its row (and its workspace's account): the
    value the per-process key cache holds, checked afresh on every request."""

    key_id: uuid.UUID
    workspace_id: uuid.UUID
    account_id: uuid.UUID
    scopes: frozenset[Scope]
    revoked: bool
    expires_at: datetime | None
    last_used_at: datetime | None


# API-key digest -> its grant, per process (`shared.read_cache`: a revoke, an expiry change or
# the workspace's deletion invalidates it in every process).
KeyCache = ReadCache[str, KeyGrant]


@dataclass(frozen=True, slots=True)
class UserGrant:
    """What a valid user token grants in one workspace (or, for a route without one, across the
    user's accounts): the value the per-process user cache holds. Only grants are cached, never
    refusals; the token's signature and expiry are checked afresh on every request."""

    user_id: uuid.UUID
    account_id: uuid.UUID | None
    scopes: frozenset[Scope]


# (token id, workspace or None) -> the token's grant there, per process (`shared.read_cache`: the
# token's revocation, the user's deactivation or password change, a membership granted, changed or
# removed, and the workspace's deletion invalidate it in every process). An entry depends on the
# user's generation and, in a workspace, on the workspace's.
UserCache = ReadCache[tuple[str, uuid.UUID | None], UserGrant]


async def resolve_principal(
    session: AsyncSession,
    credential: str,
    access: AccessRequest,
    *,
    tokens: TokenCodec,
    revoked: RevokedTokens,
    keys: KeyCache | None = None,
    users: UserCache | None = None,
) -> Principal:
    if looks_like_api_key(credential):
        return await _api_key_principal(session, credential, access, keys)
    return await _user_principal(session, tokens.decode(credential), access, revoked, users)


async def _authenticated_user(session: AsyncSession, claims: AccessClaims, revoked: RevokedTokens) -> User:
    if await revoked.is_revoked(claims.jti):
        raise AuthenticationError(f"The access token has been revoked (logged out); {LOG_IN_AGAIN}")
    user = await repository.get_user(session, claims.user_id)
    # A reset or password change bumps the generation: older tokens stop working at once.
    if user is None or not user.is_active or user.token_generation != claims.generation:
        raise AuthenticationError(f"The access token is no longer valid; {LOG_IN_AGAIN}")
    return user


async def _key_grant(session: AsyncSession, key_hash: str, keys: KeyCache | None) -> KeyGrant | None:
    cached = keys.get(key_hash) if keys is not None else None
    if cached is not None:
        return cached
    token = keys.fill_token() if keys is not None else 0
    found = await repository.api_key_in_live_workspace(session, key_hash)
    if found is None:
        return None
    row, account_id = found
    grant = KeyGrant(
        key_id=row.id,
        workspace_id=row.workspace_id,
        account_id=account_id,
        scopes=frozenset(Scope(s) for s in row.scopes),
        revoked=row.revoked_at is not None,
        expires_at=None if row.expires_at is None else as_utc(row.expires_at),
        last_used_at=None if row.last_used_at is None else as_utc(row.last_used_at),
    )
    if keys is not None:
        keys.put(key_hash, (grant.workspace_id,), grant, token)
    return grant


async def _api_key_principal(
    session: AsyncSession, key: str, access: AccessRequest, keys: KeyCache | None
) -> Principal:
    key_hash = digest(key)
    grant = await _key_grant(session, key_hash, keys)
    now = utcnow()
    if grant is None or grant.revoked or (grant.expires_at is not None and grant.expires_at <= now):
        raise AuthenticationError(
            "The API key is invalid, revoked or expired; create a new one "
            "(POST /api/v1/workspaces/{workspace_id}/keys) and give it to the agent"
        )
    if not access.required or not access.required <= API_KEY_SCOPES:
        needs = ", ".join(sorted(access.required)) or "a user"
        raise ForbiddenError(f"API keys cannot call this route; it needs a user token ({needs})")
    if access.path_workspace_id is not None and access.path_workspace_id != grant.workspace_id:
        raise workspace_not_found(access.path_workspace_id)
    if access.ingest and access.header_workspace_id not in (None, grant.workspace_id):
        raise ForbiddenError("X-Workspace-Id names a workspace this API key is not bound to")
    _require(grant.scopes, access.required, api_key=True)
    if grant.last_used_at is None or now - grant.last_used_at >= _LAST_USED_GRANULARITY:
        await repository.touch_api_key(session, grant.key_id, now)
        if keys is not None:
            keys.replace(key_hash, replace(grant, last_used_at=now))
    return Principal(
        kind=PrincipalKind.API_KEY,
        account_id=grant.account_id,
        scopes=grant.scopes,
        api_key_id=grant.key_id,
        workspace_id=grant.workspace_id,
    )


async def _user_grant(
    session: AsyncSession,
    claims: AccessClaims,
    workspace_id: uuid.UUID | None,
    revoked: RevokedTokens,
    users: UserCache | None,
) -> UserGrant:
    key = (claims.jti, workspace_id)
    cached = users.get(key) if users is not None else None
    if cached is not None:
        return cached
    token = users.fill_token() if users is not None else 0
    user = await _authenticated_user(session, claims, revoked)
    if workspace_id is None:
        account_id, scopes = await account_scopes(session, user.id)
        owners: tuple[uuid.UUID, ...] = (user.id,)
    else:
        workspace = await repository.get_workspace(session, workspace_id)
        in_workspace = None if workspace is None else await workspace_scopes(session, user.id, workspace)
        if workspace is None or in_workspace is None:
            raise workspace_not_found(workspace_id)
        account_id, scopes = workspace.account_id, in_workspace
        owners = (user.id, workspace_id)
    grant = UserGrant(user_id=user.id, account_id=account_id, scopes=scopes)
    if users is not None:
        users.put(key, owners, grant, token)
    return grant


async def _user_principal(
    session: AsyncSession,
    claims: AccessClaims,
    access: AccessRequest,
    revoked: RevokedTokens,
    users: UserCache | None,
) -> Principal:
    workspace_id = access.path_workspace_id
    if access.ingest:
        if access.header_workspace_id is None:
            raise BadRequestError("X-Workspace-Id is required when ingesting with a user token")
        workspace_id = access.header_workspace_id
    grant = await _user_grant(session, claims, workspace_id, revoked, users)
    _require(grant.scopes, access.required, api_key=False)
    return Principal(
        kind=PrincipalKind.USER,
        account_id=grant.account_id,
        scopes=grant.scopes,
        user_id=grant.user_id,
        workspace_id=workspace_id,
        token_id=claims.jti,
    )


async def workspace_scopes(
    session: AsyncSession, user_id: uuid.UUID, workspace: Workspace
) -> frozenset[Scope] | None:
    """The user's scopes in `workspace`, or None when the workspace is not theirs to see."""
    account_member = await repository.account_membership(session, workspace.account_id, user_id)
    if account_member is None:
        return None
    member = await repository.workspace_membership(session, workspace.id, user_id)
    account_role = AccountRole(account_member.role)
    role = effective_workspace_role(WorkspaceRole(member.role) if member else None, account_role)
    if role is None:
        return None
    scopes = WORKSPACE_ROLE_SCOPES[role]
    if account_role in ACCOUNT_ADMIN_ROLES:
        scopes |= {Scope.ADMIN_ACCOUNT}
    return scopes


async def account_scopes(
    session: AsyncSession, user_id: uuid.UUID
) -> tuple[uuid.UUID | None, frozenset[Scope]]:
    """(home account, scopes that need no workspace): admin:account and operations scopes.

    The home account is the user's oldest tenant membership (the operations account only when
    the user belongs to nothing else)."""
    memberships = await repository.account_memberships_of(session, user_id)
    tenants = [(m, a) for m, a in memberships if not a.is_operations]
    ordered = tenants or list(memberships)
    home = ordered[0] if ordered else None
    scopes: set[Scope] = set()
    if home is not None and AccountRole(home[0].role) in ACCOUNT_ADMIN_ROLES:
        scopes.add(Scope.ADMIN_ACCOUNT)
    for member, account in memberships:
        if account.is_operations and member.operations_role:
            scopes |= OPERATIONS_ROLE_SCOPES[OperationsRole(member.operations_role)]
    return (home[1].id if home else None), frozenset(scopes)
