"""SQL of the workspaces context: autonomy settings and the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity.models import Workspace
from spectral.platform.workspaces.models import AuditLogEntry, WorkspaceAutonomy


async def get_autonomy(session: AsyncSession, workspace_id: uuid.UUID) -> WorkspaceAutonomy | None:
    return await session.get(WorkspaceAutonomy, workspace_id)


async def audit_by_actor(
    session: AsyncSession, workspace_id: uuid.UUID, actor: str, *, limit: int
) -> Sequence[AuditLogEntry]:
    """A workspace's most recent audit entries by one actor, newest first."""
    rows = await session.exec(
        select(AuditLogEntry)
        .where(AuditLogEntry.workspace_id == workspace_id, AuditLogEntry.actor == actor)
        .order_by(col(AuditLogEntry.created_at).desc(), col(AuditLogEntry.id))
        .limit(limit)
    )
    return rows.all()


async def action_counts_since(
    session: AsyncSession, workspace_id: uuid.UUID, actions: Collection[str], since: datetime
) -> dict[str, int]:
    """How often each of `actions` was recorded in the workspace since `since`."""
    rows = await session.exec(
        select(AuditLogEntry.action, sa.func.count())
        .where(
            AuditLogEntry.workspace_id == workspace_id,
            col(AuditLogEntry.action).in_(actions),
            col(AuditLogEntry.created_at) >= since,
        )
        .group_by(col(AuditLogEntry.action))
    )
    return {action: int(count) for action, count in rows.all()}


async def workspaces_at_autonomy(
    session: AsyncSession, levels: Collection[str]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(workspace id, account id) of every live workspace whose autonomy level is one of `levels`
    (the supervisor's nightly round crosses workspaces; nothing else does)."""
    rows = await session.exec(
        select(Workspace.id, Workspace.account_id)
        .join(WorkspaceAutonomy, col(WorkspaceAutonomy.workspace_id) == Workspace.id)
        .where(col(WorkspaceAutonomy.level).in_(sorted(levels)), col(Workspace.deleted_at).is_(None))
        .order_by(col(Workspace.id))
    )
    return [(workspace_id, account_id) for workspace_id, account_id in rows.all()]
