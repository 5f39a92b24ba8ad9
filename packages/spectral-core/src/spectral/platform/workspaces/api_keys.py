"""Workspace API keys: created with the plaintext shown once, listed by prefix, revoked at once."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.identity.credentials import digest, new_api_key
from spectral.platform.identity.models import ApiKey
from spectral.platform.identity.principal import Principal
from spectral.platform.identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from spectral.platform.identity.scopes import Scope
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.errors import BusinessRuleViolationError, NotFoundError
from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.workspaces.audit import record_audit


def _read(key: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=[Scope(s) for s in key.scopes],
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
    )


def _workspace(principal: Principal) -> uuid.UUID:
    assert principal.workspace_id is not None, "key routes are workspace-scoped"
    return principal.workspace_id


async def create(session: AsyncSession, principal: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
    workspace_id = _workspace(principal)
    if body.expires_at is not None and as_utc(body.expires_at) <= utcnow():
        raise BusinessRuleViolationError("expires_at must be in the future")
    plaintext, prefix = new_api_key()
    key = ApiKey(
        workspace_id=workspace_id,
        name=body.name,
        prefix=prefix,
        key_hash=digest(plaintext),
        scopes=sorted(set(body.scopes)),
        created_by=principal.user_id,
        expires_at=body.expires_at,
    )
    session.add(key)
    await session.flush()
    read = _read(key)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="api_key.create",
        resource_type="api_key",
        resource_id=key.id,
        after=read.model_dump(mode="json"),
    )
    return ApiKeyCreated(**read.model_dump(), key=plaintext, key_id=key.id)


async def list_keys(session: AsyncSession, principal: Principal, page: PageParams) -> Page[ApiKeyRead]:
    rows, total = await repository.list_api_keys(session, _workspace(principal), page)
    return Page.of([_read(row) for row in rows], total=total, params=page)


async def revoke(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    workspace_id = _workspace(principal)
    key = await repository.get_api_key(session, workspace_id, key_id)
    if key is None:
        raise NotFoundError.for_resource("API key", key_id)
    key.revoked_at = utcnow()
    await session.flush()
    await record_audit(
        session, principal, workspace_id, action="api_key.revoke", resource_type="api_key", resource_id=key.id
    )
