"""The audit log: every mutation in every context records who did what to which resource."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity.principal import Principal
from spectral.platform.workspaces.models import AuditLogEntry


async def record_audit(
    session: AsyncSession,
    principal: Principal,
    workspace_id: uuid.UUID | None,
    *,
    action: str,
    resource_type: str,
    resource_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLogEntry:
    """Add an entry in the caller's transaction: it commits (or rolls back) with the change."""
    entry = AuditLogEntry(
        account_id=principal.account_id,
        workspace_id=workspace_id,
        actor=principal.actor,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        before=before,
        after=after,
    )
    session.add(entry)
    await session.flush()
    return entry
