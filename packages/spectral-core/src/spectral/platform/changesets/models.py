"""Change sets and what stands behind them: failure clusters, experiments and validation runs.

A change set is created by a scan (status `proposed`) with the engine's diff, rationale and
figures, and moves only through `lifecycle.transition`. Clusters belong to the scan that found
them; a change set links the clusters it addresses, and curation (rename, dismiss, merge, move
a trace) edits those rows, so it survives re-validation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import json_column, utc_column
from spectral.platform.shared.ids import new_id


class ChangeSet(SQLModel, table=True):
    __tablename__ = "changesets"
    __table_args__ = (
        sa.Index("ix_changesets_workspace_status", "workspace_id", "status"),
        sa.Index("ix_changesets_workspace_verdict", "workspace_id", "verdict"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    agent_id: uuid.UUID = Field(foreign_key="agents.id", index=True, ondelete="CASCADE")
    # Set by the scan that proposed it; no foreign key because scans sit above change sets.
    scan_id: uuid.UUID | None = Field(default=None, index=True)
    status: str = Field(max_length=20)
    strategy: str = Field(max_length=40)
    title: str = Field(max_length=300)
    rationale: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    verdict: str = Field(max_length=20)
    estimated: bool = False
    diff: list[dict[str, Any]] = Field(sa_column=json_column())
    # The full config the change leads to, in the API's config shape.
    candidate_config: dict[str, Any] = Field(sa_column=json_column())
    base_version_number: int | None = None
    evidence_trace_ids: list[str] = Field(sa_column=json_column())
    experiment: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    validation: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    expected_impact: dict[str, Any] = Field(sa_column=json_column())
    # Filled by accept/apply, emptied by rollback: what to restore and what was written.
    previous_version_number: int | None = None
    promoted_version_number: int | None = None
    applied_templates: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    reject_reason: str | None = Field(default=None, max_length=2000)
    decided_by: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class FailureCluster(SQLModel, table=True):
    __tablename__ = "failure_clusters"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    scan_id: uuid.UUID = Field(index=True)
    engine_cluster_id: str = Field(max_length=64)
    label: str = Field(max_length=300)
    cause: str = Field(max_length=30)
    signature: list[list[str]] = Field(sa_column=json_column())
    failing_dimensions: list[str] = Field(sa_column=json_column())
    top_terms: list[str] = Field(sa_column=json_column())
    exemplar_trace_ids: list[str] = Field(sa_column=json_column())
    share: float
    impact: float
    dismissed: bool = False
    merged_into_id: uuid.UUID | None = Field(default=None, foreign_key="failure_clusters.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ClusterTrace(SQLModel, table=True):
    __tablename__ = "failure_cluster_traces"

    cluster_id: uuid.UUID = Field(foreign_key="failure_clusters.id", primary_key=True, ondelete="CASCADE")
    trace_id: str = Field(max_length=32, primary_key=True)


class ChangeSetCluster(SQLModel, table=True):
    __tablename__ = "changeset_clusters"

    changeset_id: uuid.UUID = Field(foreign_key="changesets.id", primary_key=True, ondelete="CASCADE")
    cluster_id: uuid.UUID = Field(
        foreign_key="failure_clusters.id", primary_key=True, index=True, ondelete="CASCADE"
    )


class Experiment(SQLModel, table=True):
    __tablename__ = "experiments"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    agent_id: uuid.UUID = Field(foreign_key="agents.id", ondelete="CASCADE")
    changeset_id: uuid.UUID | None = Field(default=None, foreign_key="changesets.id", ondelete="CASCADE")
    sample_set_id: uuid.UUID = Field(foreign_key="sample_sets.id", ondelete="CASCADE")
    rubric_id: uuid.UUID = Field(foreign_key="rubrics.id", ondelete="CASCADE")
    objective_id: uuid.UUID = Field(foreign_key="objectives.id", ondelete="CASCADE")
    candidate_config: dict[str, Any] = Field(sa_column=json_column())
    status: str = Field(max_length=20)
    results: list[dict[str, Any]] | None = Field(default=None, sa_column=json_column(nullable=True))
    aggregate: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    error: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ValidationRun(SQLModel, table=True):
    __tablename__ = "validation_runs"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    changeset_id: uuid.UUID = Field(foreign_key="changesets.id", index=True, ondelete="CASCADE")
    status: str = Field(max_length=20)
    result: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    error: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
