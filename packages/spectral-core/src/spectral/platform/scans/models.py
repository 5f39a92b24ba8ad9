"""Scans, their event log and per-phase outputs, and the schedules that start them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import json_column, utc_column
from spectral.platform.shared.ids import new_id


class Scan(SQLModel, table=True):
    __tablename__ = "scans"
    __table_args__ = (sa.Index("ix_scans_status_heartbeat", "status", "heartbeat_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    agent_id: uuid.UUID = Field(foreign_key="agents.id", index=True, ondelete="CASCADE")
    rubric_id: uuid.UUID = Field(foreign_key="rubrics.id", ondelete="CASCADE")
    objective_id: uuid.UUID = Field(foreign_key="objectives.id", ondelete="CASCADE")
    sample_set_id: uuid.UUID | None = Field(default=None, foreign_key="sample_sets.id", ondelete="SET NULL")
    schedule_id: uuid.UUID | None = Field(default=None, index=True)
    status: str = Field(max_length=20)
    phase: str | None = Field(default=None, max_length=20)
    progress: float = 0.0
    # window, holdout_fraction, strategies, budget_usd, seed: what the scan was asked to do.
    parameters: dict[str, Any] = Field(sa_column=json_column())
    summary: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    report: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    report_markdown: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    error: str | None = Field(default=None, max_length=4000)
    cancel_requested: bool = False
    attempts: int = 0
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    started_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    heartbeat_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ScanEvent(SQLModel, table=True):
    __tablename__ = "scan_events"

    # An increasing integer, so `?after=` is a plain cursor.
    id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    scan_id: uuid.UUID = Field(foreign_key="scans.id", index=True, ondelete="CASCADE")
    phase: str = Field(max_length=20)
    level: str = Field(max_length=10)
    message: str = Field(max_length=2000)
    data: dict[str, Any] = Field(sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ScanPhaseOutput(SQLModel, table=True):
    __tablename__ = "scan_phase_outputs"

    scan_id: uuid.UUID = Field(foreign_key="scans.id", primary_key=True, ondelete="CASCADE")
    phase: str = Field(max_length=20, primary_key=True)
    payload: dict[str, Any] = Field(sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ScanSchedule(SQLModel, table=True):
    __tablename__ = "scan_schedules"
    __table_args__ = (sa.Index("ix_scan_schedules_due", "enabled", "next_run_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    cron: str = Field(max_length=100)
    # The body of a scan request (agent_id, rubric_id, objective_id, ...), validated on write.
    parameters: dict[str, Any] = Field(sa_column=json_column())
    enabled: bool = True
    next_run_at: datetime = Field(sa_column=utc_column())
    last_run_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_scan_id: uuid.UUID | None = None
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
