from __future__ import annotations

from importlib.metadata import version
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from spectral_api.dependencies import AppStateDep

router = APIRouter(tags=["Health"])


class ComponentStatus(BaseModel):
    status: Literal["ok", "unavailable"]
    backend: str


class HealthRead(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    version: str
    database: ComponentStatus
    queue: ComponentStatus


@router.get("/api/v1/health", response_model=HealthRead, summary="Service health")
@router.get("/api/health", response_model=HealthRead, include_in_schema=False)
async def health(state: AppStateDep, response: Response) -> HealthRead:
    database_ok = await state.db.ping()
    queue_ok = await state.queue.ping()
    if not database_ok:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    overall: Literal["ok", "degraded", "unavailable"] = (
        "unavailable" if not database_ok else "ok" if queue_ok else "degraded"
    )
    return HealthRead(
        status=overall,
        version=version("spectral-api"),
        database=ComponentStatus(status="ok" if database_ok else "unavailable", backend=state.db.dialect),
        queue=ComponentStatus(status="ok" if queue_ok else "unavailable", backend=state.queue.backend),
    )
