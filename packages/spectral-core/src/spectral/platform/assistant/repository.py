"""All SQL of the assistant. Conversations are the caller's own (workspace and user); approvals
belong to the workspace, so every approver of it sees them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.assistant.models import Approval, ApprovalStatus, Conversation, Message
from spectral.platform.shared.errors import NotFoundError
from spectral.platform.shared.pagination import PageParams, fetch_page


async def get_conversation(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation:
    row = await session.get(Conversation, conversation_id)
    if row is None or row.workspace_id != workspace_id or row.user_id != user_id:
        raise NotFoundError.for_resource("Conversation", conversation_id)
    return row


async def lock_conversation(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation:
    """The conversation, locked: two messages sent at once get distinct sequence numbers and one
    token budget."""
    row = (
        await session.exec(
            select(Conversation)
            .where(
                Conversation.id == conversation_id,
                Conversation.workspace_id == workspace_id,
                Conversation.user_id == user_id,
            )
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFoundError.for_resource("Conversation", conversation_id)
    return row


async def list_conversations(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Conversation], int]:
    return await fetch_page(
        session,
        select(Conversation)
        .where(Conversation.workspace_id == workspace_id, Conversation.user_id == user_id)
        .order_by(col(Conversation.updated_at).desc(), col(Conversation.id)),
        page,
    )


async def list_messages(
    session: AsyncSession, conversation_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Message], int]:
    return await fetch_page(
        session,
        select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.seq)),
        page,
    )


async def recent_messages(session: AsyncSession, conversation_id: uuid.UUID, n: int) -> list[Message]:
    rows = await session.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(col(Message.seq).desc())
        .limit(n)
    )
    return list(reversed(rows.all()))


async def next_seq(session: AsyncSession, conversation_id: uuid.UUID) -> int:
    last = await session.scalar(
        sa.select(sa.func.max(Message.seq)).where(col(Message.conversation_id) == conversation_id)
    )
    return int(last or 0) + 1


async def get_approval(session: AsyncSession, workspace_id: uuid.UUID, approval_id: uuid.UUID) -> Approval:
    row = await session.get(Approval, approval_id, with_for_update=True)
    if row is None or row.workspace_id != workspace_id:
        raise NotFoundError.for_resource("Approval", approval_id)
    return row


async def list_approvals(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageParams,
    *,
    status: str | None,
    now: datetime,
) -> tuple[Sequence[Approval], int]:
    filters: list[sa.ColumnElement[bool]] = [col(Approval.workspace_id) == workspace_id]
    if status == "expired":
        filters += [col(Approval.status) == ApprovalStatus.PENDING.value, col(Approval.expires_at) <= now]
    elif status == ApprovalStatus.PENDING.value:
        filters += [col(Approval.status) == status, col(Approval.expires_at) > now]
    elif status is not None:
        filters.append(col(Approval.status) == status)
    return await fetch_page(
        session,
        select(Approval).where(*filters).order_by(col(Approval.created_at).desc(), col(Approval.id)),
        page,
    )
