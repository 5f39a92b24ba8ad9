"""Request and response shapes of the assistant's routes."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.pagination import Page

MAX_MESSAGE_CHARS = 8000


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)


class ConversationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    title: str
    tokens_used: int
    token_budget: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    role: str
    content: str
    citations: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    planner: str | None
    created_at: UtcDateTime


class ConversationDetail(ConversationRead):
    messages: Page[MessageRead]


class ApprovalRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID | None
    requested_by: uuid.UUID
    tool: str
    summary: str = Field(description="What approving does")
    reason: str = Field(description="Why the assistant proposes it: the user's own request")
    request: dict[str, Any] = Field(description="The exact API request approving makes")
    required_scope: str = Field(description="Who may approve: holders of this scope")
    status: str = Field(description="pending, approved, denied, or expired (pending past expires_at)")
    expires_at: UtcDateTime
    decided_by: str | None
    decided_at: UtcDateTime | None
    result: dict[str, Any] | None
    created_at: UtcDateTime


class ReplyRead(BaseModel):
    """The user's message as stored, the assistant's answer, and the approvals it proposed."""

    conversation_id: uuid.UUID
    message: MessageRead
    reply: MessageRead
    approvals: list[ApprovalRead]
