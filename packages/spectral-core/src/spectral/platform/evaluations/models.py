"""Rubrics and objectives. A rubric's dimensions are stored as the engine's `Dimension.to_dict()`
shape, validated on write, so loading one is `engine.types.Rubric.from_dict`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import json_column, utc_column
from spectral.platform.shared.ids import new_id


class Rubric(SQLModel, table=True):
    __tablename__ = "rubrics"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name", name="uq_rubrics_workspace_id_name"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    # The agent a generated rubric was drafted from; informational.
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="agents.id", ondelete="SET NULL")
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    dimensions: list[dict[str, Any]] = Field(sa_column=json_column())
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Objective(SQLModel, table=True):
    __tablename__ = "objectives"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name", name="uq_objectives_workspace_id_name"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    rubric_id: uuid.UUID = Field(foreign_key="rubrics.id", index=True, ondelete="RESTRICT")
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    weights: dict[str, Any] = Field(sa_column=json_column())
    constraints: dict[str, Any] = Field(sa_column=json_column())
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
