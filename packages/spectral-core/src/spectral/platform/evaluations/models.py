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
    # Bumped whenever the dimensions change: stored scores name the version they were made with.
    version: int = 1
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


class TraceDimensionScore(SQLModel, table=True):
    """The latest score of one trace on one dimension of a rubric, and the rubric version it was
    made with. The trace's agent and start time are copied here so quality over time is one
    indexed query that never scans the trace table."""

    __tablename__ = "trace_dimension_scores"
    __table_args__ = (
        sa.Index("ix_trace_dimension_scores_agent_time", "workspace_id", "agent_id", "trace_start_time"),
        sa.Index("ix_trace_dimension_scores_rubric", "workspace_id", "rubric_id"),
    )

    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", primary_key=True, ondelete="CASCADE")
    trace_id: str = Field(max_length=32, primary_key=True)
    rubric_id: uuid.UUID = Field(foreign_key="rubrics.id", primary_key=True, ondelete="CASCADE")
    dimension_key: str = Field(max_length=64, primary_key=True)
    rubric_version: int
    agent_id: uuid.UUID | None = None
    trace_start_time: datetime = Field(sa_column=utc_column())
    # None: unscored (an llm_judge dimension without a model or past the online budget).
    score: float | None = None
    passed: bool | None = None
    judged: bool = False
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    scored_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
