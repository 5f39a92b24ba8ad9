"""Operations: platform staff only (members of the operations account)."""

from __future__ import annotations

from fastapi import APIRouter

from spectral.platform.shared.pagination import Page
from spectral.platform.workspaces import accounts
from spectral.platform.workspaces.schemas import TenantRead
from spectral_api.auth import OperationsRead
from spectral_api.dependencies import DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/operations", tags=["Operations"])


@router.get("/tenants", responses=problem_responses(401, 403), summary="Every tenant account and its size")
async def list_tenants(principal: OperationsRead, session: DbSession, page: Pagination) -> Page[TenantRead]:
    return await accounts.tenant_overview(session, page)
