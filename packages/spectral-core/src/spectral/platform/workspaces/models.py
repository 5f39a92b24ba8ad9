"""Workspace-level settings and the audit log (the workspace rows themselves are identity's)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import json_column, utc_column
from spectral.platform.shared.ids import new_id


class WorkspaceAutonomy(SQLModel, table=True):
    """How far the supervisor may act alone; absent = `observe` with default guardrails."""

    __tablename__ = "workspace_autonomy"

    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", primary_key=True, ondelete="CASCADE")
    level: str = Field(max_length=20)
    guardrails: dict[str, Any] = Field(sa_column=json_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_by: str = Field(max_length=80)


class AuditLogEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID | None = Field(default=None, index=True)
    # Not a foreign key: the audit trail outlives what it describes.
    workspace_id: uuid.UUID | None = Field(default=None, index=True)
    actor: str = Field(max_length=80)
    action: str = Field(max_length=80)
    resource_type: str = Field(max_length=60)
    resource_id: str | None = Field(default=None, max_length=100)
    before: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(index=True))
