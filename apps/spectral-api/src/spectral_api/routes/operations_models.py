"""Operations: the model gateway's health and per-model configs (platform staff only)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from spectral.platform.models import service
from spectral.platform.models.schemas import (
    ModelConfigCreate,
    ModelConfigRead,
    ModelConfigUpdate,
    ModelHealthReport,
)
from spectral.platform.shared.pagination import Page
from spectral_api.auth import OperationsDelete, OperationsRead, OperationsWrite
from spectral_api.dependencies import AppStateDep, DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/operations/models", tags=["Operations"])


@router.get(
    "/health",
    responses=problem_responses(401, 403),
    summary="Per provider and model: calls, error rate, p50/p95 latency, last error, circuit state",
)
async def model_health(
    principal: OperationsRead, session: DbSession, state: AppStateDep
) -> ModelHealthReport:
    return await service.model_health(session, state.settings)


@router.get("/config", responses=problem_responses(401, 403), summary="Per-model settings of the gateway")
async def list_model_configs(
    principal: OperationsRead, session: DbSession, page: Pagination
) -> Page[ModelConfigRead]:
    return await service.list_configs(session, page)


@router.post(
    "/config",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422),
    summary="Configure a model: price per 1M tokens, context window, enabled, judge/proposer role",
)
async def create_model_config(
    body: ModelConfigCreate, principal: OperationsWrite, session: DbSession, response: Response
) -> ModelConfigRead:
    created = await service.create_config(session, principal, body)
    response.headers["Location"] = f"{router.prefix}/config/{created.model}"
    return created


# `:path`: model names carry slashes (`meta-llama/Llama-3.1-8B-Instruct`, `openai/gpt-4o`).
@router.patch(
    "/config/{model:path}",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Change a model's config (only the fields sent)",
)
async def update_model_config(
    model: str, body: ModelConfigUpdate, principal: OperationsWrite, session: DbSession
) -> ModelConfigRead:
    return await service.update_config(session, principal, model, body)


@router.delete(
    "/config/{model:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
    summary="Remove a model's config: catalog price and environment roles apply again",
)
async def delete_model_config(model: str, principal: OperationsDelete, session: DbSession) -> None:
    await service.delete_config(session, principal, model)
