"""Sample sets and their items; an item's input is unique within its set (by content hash)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import json_column, utc_column
from spectral.platform.shared.ids import new_id


class SampleSet(SQLModel, table=True):
    __tablename__ = "sample_sets"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name", name="uq_sample_sets_workspace_id_name"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="agents.id", ondelete="SET NULL")
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class SampleItem(SQLModel, table=True):
    __tablename__ = "sample_items"
    __table_args__ = (
        sa.UniqueConstraint("sample_set_id", "input_hash", name="uq_sample_items_sample_set_id_input_hash"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    sample_set_id: uuid.UUID = Field(foreign_key="sample_sets.id", ondelete="CASCADE")
    # Text or a messages list, as a trace's root input.
    input: Any = Field(sa_column=json_column())
    input_hash: str = Field(max_length=64)
    expected_output: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    metadata_: dict[str, Any] = Field(sa_column=sa.Column("metadata", json_column().type, nullable=False))
    source_trace_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
