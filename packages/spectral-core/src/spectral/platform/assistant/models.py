"""The assistant's tables: conversations (per workspace and user), their messages, and the
approvals its action tools create. An approval holds the exact request it will make when a person
with `required_scope` approves it; nothing else ever performs an action for the assistant."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import json_column, utc_column
from spectral.platform.shared.ids import new_id


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class Conversation(SQLModel, table=True):
    __tablename__ = "assistant_conversations"
    __table_args__ = (sa.Index("ix_assistant_conversations_workspace_user", "workspace_id", "user_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    title: str = Field(max_length=200)
    # Model tokens spent by this conversation (in + out); the model planner stops at the budget.
    tokens_used: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Message(SQLModel, table=True):
    __tablename__ = "assistant_messages"
    __table_args__ = (sa.UniqueConstraint("conversation_id", "seq"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    conversation_id: uuid.UUID = Field(foreign_key="assistant_conversations.id", ondelete="CASCADE")
    seq: int
    role: str = Field(max_length=20)
    content: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # What the answer is built from: [{"kind": "trace"|"scan"|..., "id": ..., "window"?: ...}].
    citations: list[dict[str, Any]] = Field(sa_column=json_column())
    # The tools the planner called for this answer: [{"tool", "arguments", "truncated"}].
    tool_calls: list[dict[str, Any]] = Field(sa_column=json_column())
    planner: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Approval(SQLModel, table=True):
    __tablename__ = "assistant_approvals"
    __table_args__ = (sa.Index("ix_assistant_approvals_workspace_status", "workspace_id", "status"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="assistant_conversations.id", ondelete="CASCADE")
    message_id: uuid.UUID | None = Field(default=None)
    requested_by: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    tool: str = Field(max_length=60)
    arguments: dict[str, Any] = Field(sa_column=json_column())
    summary: str = Field(max_length=500)
    reason: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # The exact API request approving performs: {"method", "path", "body"}.
    request: dict[str, Any] = Field(sa_column=json_column())
    required_scope: str = Field(max_length=40)
    status: str = Field(max_length=20)
    expires_at: datetime = Field(sa_column=utc_column())
    decided_by: str | None = Field(default=None, max_length=80)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    result: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
