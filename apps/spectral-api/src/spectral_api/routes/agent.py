"""Agent: the built-in assistant. Conversations and messages (answers cite their sources, actions
become approvals), and the approvals a person with the needed scope approves or denies."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from spectral.platform.assistant import service
from spectral.platform.assistant.schemas import (
    ApprovalRead,
    ConversationCreate,
    ConversationDetail,
    ConversationRead,
    MessageCreate,
    ReplyRead,
)
from spectral.platform.models.gateway import ModelGateway
from spectral.platform.shared.pagination import Page
from spectral_api.auth import WorkspaceRead
from spectral_api.dependencies import AppStateDep, DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/agent", tags=["Agent"])


async def assistant_gateway(state: AppStateDep) -> AsyncIterator[ModelGateway | None]:
    """The model gateway for this message, or None without a provider (the offline planner)."""
    gateway = ModelGateway.from_settings(state.db, state.settings)
    try:
        yield gateway
    finally:
        if gateway is not None:
            await gateway.aclose()


Gateway = Annotated[ModelGateway | None, Depends(assistant_gateway)]


@router.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 404, 422),
    summary="Start a conversation with the assistant",
)
async def create_conversation(
    workspace_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    state: AppStateDep,
    response: Response,
    body: ConversationCreate | None = None,
) -> ConversationRead:
    conversation = await service.create_conversation(
        session, principal, body or ConversationCreate(), state.settings
    )
    response.headers["Location"] = f"/api/v1/workspaces/{workspace_id}/agent/conversations/{conversation.id}"
    return conversation


@router.get(
    "/conversations",
    responses=problem_responses(401, 403, 404, 422),
    summary="Your conversations, newest first",
)
async def list_conversations(
    workspace_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    state: AppStateDep,
    page: Pagination,
) -> Page[ConversationRead]:
    return await service.list_conversations(session, principal, page, state.settings)


@router.get(
    "/conversations/{conversation_id}",
    responses=problem_responses(401, 403, 404, 422),
    summary="A conversation with its messages (paginated, oldest first)",
)
async def get_conversation(
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    state: AppStateDep,
    page: Pagination,
) -> ConversationDetail:
    return await service.get_conversation(session, principal, conversation_id, page, state.settings)


@router.post(
    "/conversations/{conversation_id}/messages",
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Ask the assistant: its cited answer and any actions it proposes (as approvals)",
)
async def post_message(
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    body: MessageCreate,
    principal: WorkspaceRead,
    session: DbSession,
    state: AppStateDep,
    gateway: Gateway,
) -> ReplyRead:
    return await service.post_message(session, principal, conversation_id, body, state.settings, gateway)


@router.get(
    "/approvals",
    responses=problem_responses(401, 403, 404, 422),
    summary="The workspace's approvals: actions the assistant proposed, waiting for a person",
)
async def list_approvals(
    workspace_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    page: Pagination,
    status_: Annotated[
        Literal["pending", "approved", "denied", "expired"] | None, Query(alias="status")
    ] = None,
) -> Page[ApprovalRead]:
    return await service.list_approvals(session, principal, page, status_)


@router.post(
    "/approvals/{approval_id}/approve",
    responses=problem_responses(400, 401, 403, 404, 409),
    summary="Approve: perform the exact request, as you (needs the approval's required scope)",
)
async def approve(
    workspace_id: uuid.UUID, approval_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> ApprovalRead:
    return await service.approve(session, principal, approval_id)


@router.post(
    "/approvals/{approval_id}/deny",
    responses=problem_responses(400, 401, 403, 404, 409),
    summary="Deny: close the approval without acting",
)
async def deny(
    workspace_id: uuid.UUID, approval_id: uuid.UUID, principal: WorkspaceRead, session: DbSession
) -> ApprovalRead:
    return await service.deny(session, principal, approval_id)
