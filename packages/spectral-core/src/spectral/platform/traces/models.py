"""Trace tables. A span is keyed by (workspace_id, trace_id, span_id, start_time) — its OTLP identity
within a tenant, plus the start time PostgreSQL partitions `spans` by (a partitioned table's key
must hold its partition key; an exporter's retry re-sends the same start time) — so a re-sent span
is the same row. A trace row is derived: it is rolled up from its spans (`traces.rollup`)
whenever new spans of it arrive, in whatever order and however many requests they take.

Ids keep their OTLP hex form (32 hex digits for a trace, 16 for a span). Free-form text is `Text`
(names, models, messages) so no length limit can fail a whole batch.
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

TRACE_ID_LENGTH = 32
SPAN_ID_LENGTH = 16


def _text(*, nullable: bool = True) -> Any:
    return sa.Column(sa.Text(), nullable=nullable)


def _bigint() -> Any:
    return sa.Column(sa.BigInteger(), nullable=True)


class Span(SQLModel, table=True):
    __tablename__ = "spans"

    # No foreign key to `workspaces` (migration 0012): workspaces are soft-deleted, and the per-row
    # check cost ingest ~10 µs of PostgreSQL CPU per span.
    workspace_id: uuid.UUID = Field(primary_key=True)
    trace_id: str = Field(max_length=TRACE_ID_LENGTH, primary_key=True)
    span_id: str = Field(max_length=SPAN_ID_LENGTH, primary_key=True)
    parent_span_id: str | None = Field(default=None, max_length=SPAN_ID_LENGTH)
    name: str = Field(sa_column=_text(nullable=False))
    # The normalised kind: llm, tool, agent, chain, retriever, other.
    kind: str = Field(max_length=16)
    # The OTLP span kind: internal, server, client, producer, consumer, unspecified.
    span_kind: str = Field(max_length=16)
    service_name: str | None = Field(default=None, sa_column=_text())
    scope_name: str | None = Field(default=None, sa_column=_text())
    # The partition key on PostgreSQL (daily RANGE partitions, see `traces.partitions`).
    start_time: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), primary_key=True))
    end_time: datetime = Field(sa_column=utc_column())
    duration_ms: float
    # ok, error or unset (OTLP status codes).
    status: str = Field(max_length=8)
    status_message: str | None = Field(default=None, sa_column=_text())
    error_type: str | None = Field(default=None, sa_column=_text())
    error_message: str | None = Field(default=None, sa_column=_text())
    model: str | None = Field(default=None, sa_column=_text())
    provider: str | None = Field(default=None, sa_column=_text())
    operation: str | None = Field(default=None, sa_column=_text())
    input_tokens: int | None = Field(default=None, sa_column=_bigint())
    output_tokens: int | None = Field(default=None, sa_column=_bigint())
    total_tokens: int | None = Field(default=None, sa_column=_bigint())
    cost_usd: float | None = None
    # True when the cost came from the price catalog rather than from the span itself.
    cost_estimated: bool = False
    finish_reason: str | None = Field(default=None, sa_column=_text())
    tool_name: str | None = Field(default=None, sa_column=_text())
    # The raw agent key the span names (see `normalise.AgentSource` for the precedence).
    agent_key: str | None = Field(default=None, sa_column=_text())
    agent_source: int | None = Field(default=None, sa_column=sa.Column(sa.SmallInteger(), nullable=True))
    agent_id: uuid.UUID | None = None
    agent_version: str | None = Field(default=None, sa_column=_text())
    session_id: str | None = Field(default=None, sa_column=_text())
    input_text: str | None = Field(default=None, sa_column=_text())
    output_text: str | None = Field(default=None, sa_column=_text())
    input_messages: list[dict[str, Any]] | None = Field(default=None, sa_column=json_column(nullable=True))
    output_messages: list[dict[str, Any]] | None = Field(default=None, sa_column=json_column(nullable=True))
    # Every attribute not lifted into a column above (and the scalar ones that were): nothing dropped.
    attributes: dict[str, Any] = Field(sa_column=json_column())
    resource_attributes: dict[str, Any] = Field(sa_column=json_column())
    events: list[dict[str, Any]] | None = Field(default=None, sa_column=json_column(nullable=True))
    links: list[dict[str, Any]] | None = Field(default=None, sa_column=json_column(nullable=True))
    received_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Trace(SQLModel, table=True):
    __tablename__ = "traces"
    __table_args__ = (
        sa.Index("ix_traces_workspace_start", "workspace_id", "start_time"),
        sa.Index("ix_traces_workspace_agent_key", "workspace_id", "agent_key", "start_time"),
        sa.Index("ix_traces_workspace_agent_id", "workspace_id", "agent_id", "start_time"),
        # Activity since a time (dashboard, supervisor): traces received, by `created_at`.
        sa.Index("ix_traces_workspace_created", "workspace_id", "created_at"),
    )

    # No foreign key to `workspaces` (migration 0012): workspaces are soft-deleted, and the per-row
    # check cost ingest ~10 µs of PostgreSQL CPU per span.
    workspace_id: uuid.UUID = Field(primary_key=True)
    trace_id: str = Field(max_length=TRACE_ID_LENGTH, primary_key=True)
    root_span_id: str | None = Field(default=None, max_length=SPAN_ID_LENGTH)
    name: str | None = Field(default=None, sa_column=_text())
    agent_key: str | None = Field(default=None, sa_column=_text())
    agent_id: uuid.UUID | None = None
    agent_version: str | None = Field(default=None, sa_column=_text())
    service_name: str | None = Field(default=None, sa_column=_text())
    session_id: str | None = Field(default=None, sa_column=_text())
    start_time: datetime = Field(sa_column=utc_column())
    end_time: datetime = Field(sa_column=utc_column())
    duration_ms: float
    span_count: int
    error_count: int
    status: str = Field(max_length=8)
    error_type: str | None = Field(default=None, sa_column=_text())
    error_message: str | None = Field(default=None, sa_column=_text())
    model: str | None = Field(default=None, sa_column=_text())
    finish_reason: str | None = Field(default=None, sa_column=_text())
    input_text: str | None = Field(default=None, sa_column=_text())
    input_messages: list[dict[str, Any]] | None = Field(default=None, sa_column=json_column(nullable=True))
    output_text: str | None = Field(default=None, sa_column=_text())
    input_tokens: int | None = Field(default=None, sa_column=_bigint())
    output_tokens: int | None = Field(default=None, sa_column=_bigint())
    total_tokens: int | None = Field(default=None, sa_column=_bigint())
    cost_usd: float | None = None
    # The latest evaluation of the trace (written by evaluations through `record_trace_scores`).
    score: float | None = None
    scores: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class TraceFeedback(SQLModel, table=True):
    __tablename__ = "trace_feedback"
    __table_args__ = (sa.Index("ix_trace_feedback_workspace_trace", "workspace_id", "trace_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", ondelete="CASCADE")
    trace_id: str = Field(max_length=TRACE_ID_LENGTH)
    # thumbs, score, label or comment.
    kind: str = Field(max_length=16)
    value: Any = Field(default=None, sa_column=json_column(nullable=True))
    # The feedback on [0, 1] (thumbs up = 1, down = 0), None for labels and comments.
    score: float | None = None
    label: str | None = Field(default=None, sa_column=_text())
    comment: str | None = Field(default=None, sa_column=_text())
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class IngestStats(SQLModel, table=True):
    """Span counters per workspace and sending service (`service.name`, "" when none was sent)."""

    __tablename__ = "ingest_stats"

    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", primary_key=True, ondelete="CASCADE")
    service_name: str = Field(primary_key=True, max_length=255)
    received: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    accepted: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    rejected: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    last_received_at: datetime = Field(sa_column=utc_column())
