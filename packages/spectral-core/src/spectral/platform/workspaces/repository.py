"""SQL of the workspaces context: autonomy settings and the audit log."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.workspaces.models import WorkspaceAutonomy


async def get_autonomy(session: AsyncSession, workspace_id: uuid.UUID) -> WorkspaceAutonomy | None:
    return await session.get(WorkspaceAutonomy, workspace_id)
