"""Samples: sample sets, their items (batch add, JSONL import, from traces)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from spectral.platform.samples import service
from spectral.platform.samples.schemas import (
    FromTracesResult,
    ImportResult,
    ItemsAdded,
    SampleItemRead,
    SampleItemsCreate,
    SampleSetCreate,
    SampleSetRead,
    SampleSetUpdate,
    SamplesFromTraces,
)
from spectral.platform.shared.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from spectral.platform.shared.pagination import Page
from spectral_api.auth import WorkspaceRead, WorkspaceWrite
from spectral_api.dependencies import AppStateDep, DbSession, Pagination
from spectral_api.middleware import BODY_LIMIT_EXTENSION, BOUNDS_OWN_NESTING_EXTENSION
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/samples", tags=["Samples"])

JSONL_MEDIA_TYPES = frozenset(
    {
        "application/jsonl",
        "application/x-ndjson",
        "application/x-jsonlines",
        "application/json-lines",
        "text/plain",
    }
)


def _location(workspace_id: uuid.UUID, set_id: uuid.UUID) -> str:
    return f"/api/v1/workspaces/{workspace_id}/samples/{set_id}"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Create a sample set",
)
async def create_set(
    workspace_id: uuid.UUID,
    body: SampleSetCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> SampleSetRead:
    created = await service.create_set(session, principal, body)
    response.headers["Location"] = _location(workspace_id, created.id)
    return created


@router.post(
    "/from-traces",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Create a sample set from the traces a filter selects (inputs, outputs as expected outputs)",
)
async def from_traces(
    workspace_id: uuid.UUID,
    body: SamplesFromTraces,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> FromTracesResult:
    result = await service.from_traces(session, principal, body)
    response.headers["Location"] = _location(workspace_id, result.sample_set.id)
    return result


@router.get("", responses=problem_responses(401, 403, 404), summary="List sample sets")
async def list_sets(
    workspace_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    page: Pagination,
    agent_id: Annotated[uuid.UUID | None, Query(description="only sets of this agent")] = None,
) -> Page[SampleSetRead]:
    return await service.list_sets(session, principal, page, agent_id=agent_id)


@router.get("/{set_id}", responses=problem_responses(401, 403, 404), summary="Get a sample set")
async def get_set(
    workspace_id: uuid.UUID, set_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> SampleSetRead:
    return await service.get_set(session, principal, set_id)


@router.patch(
    "/{set_id}", responses=problem_responses(400, 401, 403, 404, 409, 422), summary="Change a sample set"
)
async def update_set(
    workspace_id: uuid.UUID,
    set_id: uuid.UUID,
    body: SampleSetUpdate,
    principal: WorkspaceWrite,
    session: DbSession,
) -> SampleSetRead:
    return await service.update_set(session, principal, set_id, body)


@router.delete(
    "/{set_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 401, 403, 404),
    summary="Delete a sample set and its items",
)
async def delete_set(
    workspace_id: uuid.UUID, set_id: uuid.UUID, principal: WorkspaceWrite, session: DbSession
) -> None:
    await service.delete_set(session, principal, set_id)


@router.get("/{set_id}/items", responses=problem_responses(401, 403, 404), summary="List a set's items")
async def list_items(
    workspace_id: uuid.UUID, set_id: uuid.UUID, principal: WorkspaceRead, session: DbSession, page: Pagination
) -> Page[SampleItemRead]:
    return await service.list_items(session, principal, set_id, page)


@router.post(
    "/{set_id}/items",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Add items in a batch (inputs already in the set are skipped)",
)
async def add_items(
    workspace_id: uuid.UUID,
    set_id: uuid.UUID,
    body: SampleItemsCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> ItemsAdded:
    added = await service.add_items(session, principal, set_id, body)
    # A batch has no single URL: Location is the collection the new items were added to.
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/samples/{set_id}/items"
    return added


@router.delete(
    "/{set_id}/items/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 401, 403, 404),
    summary="Delete an item",
)
async def delete_item(
    workspace_id: uuid.UUID,
    set_id: uuid.UUID,
    item_id: uuid.UUID,
    principal: WorkspaceWrite,
    session: DbSession,
) -> None:
    await service.delete_item(session, principal, set_id, item_id)


async def _jsonl_body(request: Request, limit: int) -> bytes:
    media_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media_type not in JSONL_MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"Send the items as JSON lines (Content-Type: application/jsonl), not {media_type or 'no type'}"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError(f"The file exceeds the limit of {limit} bytes")
    return bytes(body)


@router.post(
    "/{set_id}/import",
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422),
    summary="Import items from JSON lines; any bad line imports nothing and every bad line is reported",
    openapi_extra={
        BODY_LIMIT_EXTENSION: "max_request_bytes",
        # Each line is parsed and bounded on its own, and every bad line is reported by number.
        BOUNDS_OWN_NESTING_EXTENSION: True,
        "requestBody": {
            "required": True,
            "content": {
                "application/jsonl": {
                    "schema": {"type": "string"},
                    "example": '{"input": "Is the sky green?", "expected_output": "false"}\n',
                }
            },
        },
    },
)
async def import_items(
    workspace_id: uuid.UUID,
    set_id: uuid.UUID,
    request: Request,
    principal: WorkspaceWrite,
    session: DbSession,
    state: AppStateDep,
) -> ImportResult:
    body = await _jsonl_body(request, state.settings.max_request_bytes)
    return await service.import_jsonl(session, principal, set_id, body)
