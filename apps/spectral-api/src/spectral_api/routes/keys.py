"""Keys: workspace API keys (`sk_live_…`), shown once, stored as hashes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from spectral.platform.identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from spectral.platform.shared.pagination import Page
from spectral.platform.workspaces import api_keys
from spectral_api.auth import WorkspaceAdmin
from spectral_api.dependencies import DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/keys", tags=["Keys"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Create an API key (the secret is returned only here)",
)
async def create_key(
    workspace_id: uuid.UUID,
    body: ApiKeyCreate,
    principal: WorkspaceAdmin,
    session: DbSession,
    response: Response,
) -> ApiKeyCreated:
    created = await api_keys.create(session, principal, body)
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/keys/{created.key_id}"
    return created


@router.get("", responses=problem_responses(401, 403, 404), summary="List live API keys (never the secret)")
async def list_keys(
    workspace_id: uuid.UUID, principal: WorkspaceAdmin, session: DbSession, page: Pagination
) -> Page[ApiKeyRead]:
    return await api_keys.list_keys(session, principal, page)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
    summary="Revoke an API key; it stops working on the next request",
)
async def revoke_key(
    workspace_id: uuid.UUID, key_id: uuid.UUID, principal: WorkspaceAdmin, session: DbSession
) -> None:
    await api_keys.revoke(session, principal, key_id)
