"""Authentication and authorization for every router: one `authorize` dependency, declared per
route through the annotated principal types below, e.g. `principal: WorkspaceWrite`.

It resolves the caller (a JWT user or an `sk_live_` API key), the workspace of the path
(`workspace_id`; another tenant's workspace is 404), checks `X-Workspace-Id` against the path
(400 on mismatch) and enforces the route's scopes (403 naming the missing scope). Scopes are
resolved per request from the current memberships, and each principal is rate limited.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity.access import AccessRequest, resolve_principal
from spectral.platform.identity.client_address import client_source
from spectral.platform.identity.principal import Principal
from spectral.platform.identity.revocation import DatabaseRevokedTokens, RedisRevokedTokens, RevokedTokens
from spectral.platform.identity.scopes import Scope
from spectral.platform.shared.errors import AuthenticationError, BadRequestError, DomainError, NotFoundError
from spectral_api.dependencies import AppStateDep, DbSession
from spectral_api.state import AppState

WORKSPACE_PATH_PARAM = "workspace_id"
WORKSPACE_HEADER = "X-Workspace-Id"

# The `Authorization: Bearer` credential every protected route reads (and OpenAPI's security scheme).
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A JWT from /api/v1/auth/login, or a workspace API key (sk_live_…)",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def revoked_tokens(state: AppStateDep, session: DbSession) -> RevokedTokens:
    if state.redis is not None:
        return RedisRevokedTokens(state.redis, prefix=state.settings.redis_key_prefix)
    return DatabaseRevokedTokens(session)


RevokedTokensDep = Annotated[RevokedTokens, Depends(revoked_tokens)]


async def request_source(request: Request, state: AppStateDep) -> str:
    """The client's address as every address-based rate limit counts it: the TCP peer, or the
    right-most untrusted X-Forwarded-For hop when the peer is a trusted proxy."""
    return client_source(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        state.settings.trusted_proxies,
    )


ClientSource = Annotated[str, Depends(request_source)]


AUTHENTICATION_REQUIRED = "Authentication required: send Authorization: Bearer <token>"


async def bearer_token(credentials: BearerCredentials) -> str:
    if credentials is None or not credentials.credentials:
        raise AuthenticationError(AUTHENTICATION_REQUIRED)
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]


async def _resolve(
    state: AppState, session: AsyncSession, token: str, access: AccessRequest, revoked: RevokedTokens
) -> Principal:
    """`resolve_principal` with this process's token codec and credential caches."""
    return await resolve_principal(
        session,
        token,
        access,
        tokens=state.tokens,
        revoked=revoked,
        keys=state.key_cache,
        users=state.user_cache,
    )


# Asks for nothing: what `resolve_principal` then refuses with 401 is the credential itself.
_ANY_ACCESS = AccessRequest(
    required=frozenset(), path_workspace_id=None, header_workspace_id=None, ingest=False
)


async def credential_refusal(state: AppState, authorization: str) -> AuthenticationError | None:
    """Why an `Authorization` header identifies no one (no bearer token; a JWT that is malformed,
    expired, revoked or outlived by a password change; an API key that is unknown, revoked or
    expired), or None when it identifies someone. This is `authorize`'s own verification,
    without the route's workspace and scopes (the route still checks those), so the body limit
    can refuse a bad credential before it reads a large body."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return AuthenticationError(AUTHENTICATION_REQUIRED)
    async with state.db.session(writes=False) as session:
        revoked = await revoked_tokens(state, session)
        try:
            await _resolve(state, session, token, _ANY_ACCESS, revoked)
        except AuthenticationError as refused:
            return refused
        except DomainError:
            return None  # identified, but not for this empty request (an API key needs scopes)
    return None


def _path_workspace(request: Request) -> uuid.UUID | None:
    raw = request.path_params.get(WORKSPACE_PATH_PARAM)
    if raw is None:
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFoundError(f"Workspace {raw} not found") from None


def _header_workspace(request: Request) -> uuid.UUID | None:
    raw = request.headers.get(WORKSPACE_HEADER)
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequestError(f"{WORKSPACE_HEADER} must be a workspace id (UUID)") from None


Authorizer = Callable[
    [SecurityScopes, Request, str, AppState, AsyncSession, RevokedTokens], Awaitable[Principal]
]


def _authorizer(*, ingest: bool, per_principal_limit: bool, doc: str) -> Authorizer:
    """The `authorize` dependency of one kind of route. `ingest`: the workspace comes from the API
    key, or from X-Workspace-Id with a JWT; `per_principal_limit`: the request counts against the
    principal's API rate limit (span writes are governed by the workspace's span quota instead)."""

    async def authorize(
        security_scopes: SecurityScopes,
        request: Request,
        token: BearerToken,
        state: AppStateDep,
        session: DbSession,
        revoked: RevokedTokensDep,
    ) -> Principal:
        path_workspace = _path_workspace(request)
        header_workspace = _header_workspace(request)
        if path_workspace is not None and header_workspace not in (None, path_workspace):
            raise BadRequestError(f"{WORKSPACE_HEADER} does not match the workspace in the path")
        access = AccessRequest(
            required=frozenset(Scope(s) for s in security_scopes.scopes),
            path_workspace_id=path_workspace,
            header_workspace_id=header_workspace,
            ingest=ingest,
        )
        principal = await _resolve(state, session, token, access, revoked)
        if per_principal_limit:
            await state.rate_limiter.hit(
                f"api:{principal.actor}", limit=state.settings.rate_limit_api_per_minute
            )
        return principal

    authorize.__doc__ = doc
    return authorize


authorize = _authorizer(
    ingest=False,
    per_principal_limit=True,
    doc="The principal of an `/api/v1` route, holding every scope the route declares.",
)
authorize_ingest = _authorizer(
    ingest=True,
    per_principal_limit=True,
    doc="OTLP ingest: the workspace comes from the API key, or from X-Workspace-Id with a JWT.",
)
authorize_export = _authorizer(
    ingest=True,
    per_principal_limit=False,
    doc="OTLP span export: as `authorize_ingest`, but governed by the workspace's span quota.",
)
authorize_span_write = _authorizer(
    ingest=False,
    per_principal_limit=False,
    doc="Native span ingest (`POST {ws}/traces`): as `authorize`, but governed by the span quota.",
)


CurrentUser = Annotated[Principal, Security(authorize, scopes=[])]
AccountAdmin = Annotated[Principal, Security(authorize, scopes=[Scope.ADMIN_ACCOUNT.value])]
WorkspaceRead = Annotated[Principal, Security(authorize, scopes=[Scope.READ_WORKSPACE.value])]
WorkspaceWrite = Annotated[Principal, Security(authorize, scopes=[Scope.WRITE_WORKSPACE.value])]
WorkspaceAdmin = Annotated[Principal, Security(authorize, scopes=[Scope.ADMIN_WORKSPACE.value])]
AgentsApprove = Annotated[Principal, Security(authorize, scopes=[Scope.APPROVE_AGENTS.value])]
AgentsRead = Annotated[Principal, Security(authorize, scopes=[Scope.READ_AGENTS.value])]
TracesWrite = Annotated[Principal, Security(authorize, scopes=[Scope.WRITE_TRACES.value])]
SpansWrite = Annotated[Principal, Security(authorize_span_write, scopes=[Scope.WRITE_TRACES.value])]
IngestPrincipal = Annotated[Principal, Security(authorize_ingest, scopes=[Scope.WRITE_TRACES.value])]
ExportPrincipal = Annotated[Principal, Security(authorize_export, scopes=[Scope.WRITE_TRACES.value])]
OperationsRead = Annotated[Principal, Security(authorize, scopes=[Scope.READ_OPERATIONS.value])]
OperationsWrite = Annotated[Principal, Security(authorize, scopes=[Scope.WRITE_OPERATIONS.value])]
OperationsAdmin = Annotated[Principal, Security(authorize, scopes=[Scope.ADMIN_OPERATIONS.value])]
OperationsDelete = Annotated[Principal, Security(authorize, scopes=[Scope.DELETE_OPERATIONS.value])]
