"""traces: traces, spans, feedback, ingest stats

Revision ID: 0002_traces
Revises: 0001_identity
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_traces"
down_revision: str | None = "0001_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_UNFILTERED_SPAN_COLUMNS = (
    "attributes",
    "resource_attributes",
    "events",
    "links",
    "input_messages",
    "output_messages",
    "input_text",
    "output_text",
    "status_message",
    "error_message",
)


def _utc(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"], name=f"fk_{table}_workspace_id_workspaces", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "spans",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("parent_span_id", sa.String(16), nullable=True),
        _text("name", nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("span_kind", sa.String(16), nullable=False),
        _text("service_name"),
        _text("scope_name"),
        _utc("start_time"),
        _utc("end_time"),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        _text("status_message"),
        _text("error_type"),
        _text("error_message"),
        _text("model"),
        _text("provider"),
        _text("operation"),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("cost_estimated", sa.Boolean(), nullable=False),
        _text("finish_reason"),
        _text("tool_name"),
        _text("agent_key"),
        sa.Column("agent_source", sa.SmallInteger(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        _text("agent_version"),
        _text("session_id"),
        _text("input_text"),
        _text("output_text"),
        sa.Column("input_messages", JSON, nullable=True),
        sa.Column("output_messages", JSON, nullable=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("resource_attributes", JSON, nullable=False),
        sa.Column("events", JSON, nullable=True),
        sa.Column("links", JSON, nullable=True),
        _utc("received_at"),
        _workspace_fk("spans"),
        sa.PrimaryKeyConstraint("workspace_id", "trace_id", "span_id", name="pk_spans"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Nothing filters on these (large, JSON or free text) columns: ANALYZE need not sample them,
        # which keeps autovacuum cheap on the busiest table.
        for column in _UNFILTERED_SPAN_COLUMNS:
            op.execute(f"ALTER TABLE spans ALTER COLUMN {column} SET STATISTICS 0")
    op.create_table(
        "traces",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("root_span_id", sa.String(16), nullable=True),
        _text("name"),
        _text("agent_key"),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        _text("agent_version"),
        _text("service_name"),
        _text("session_id"),
        _utc("start_time"),
        _utc("end_time"),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("span_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        _text("error_type"),
        _text("error_message"),
        _text("model"),
        _text("finish_reason"),
        _text("input_text"),
        sa.Column("input_messages", JSON, nullable=True),
        _text("output_text"),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("scores", JSON, nullable=True),
        _utc("created_at"),
        _utc("updated_at"),
        _workspace_fk("traces"),
        sa.PrimaryKeyConstraint("workspace_id", "trace_id", name="pk_traces"),
    )
    op.create_index("ix_traces_workspace_start", "traces", ["workspace_id", "start_time"])
    op.create_index("ix_traces_workspace_agent_key", "traces", ["workspace_id", "agent_key", "start_time"])
    op.create_index("ix_traces_workspace_agent_id", "traces", ["workspace_id", "agent_id", "start_time"])
    op.create_table(
        "trace_feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", JSON, nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        _text("label"),
        _text("comment"),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        _utc("created_at"),
        _workspace_fk("trace_feedback"),
        sa.PrimaryKeyConstraint("id", name="pk_trace_feedback"),
    )
    op.create_index("ix_trace_feedback_workspace_trace", "trace_feedback", ["workspace_id", "trace_id"])
    op.create_table(
        "ingest_stats",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("service_name", sa.String(255), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        _utc("last_received_at"),
        _workspace_fk("ingest_stats"),
        sa.PrimaryKeyConstraint("workspace_id", "service_name", name="pk_ingest_stats"),
    )


def downgrade() -> None:
    op.drop_table("ingest_stats")
    op.drop_index("ix_trace_feedback_workspace_trace", table_name="trace_feedback")
    op.drop_table("trace_feedback")
    op.drop_index("ix_traces_workspace_agent_id", table_name="traces")
    op.drop_index("ix_traces_workspace_agent_key", table_name="traces")
    op.drop_index("ix_traces_workspace_start", table_name="traces")
    op.drop_table("traces")
    op.drop_table("spans")
