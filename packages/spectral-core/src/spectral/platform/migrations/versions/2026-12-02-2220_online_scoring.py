"""online scoring: per-agent online rubric, trace scores by rubric version

Revision ID: 0008_online_scoring
Revises: 0007_identity_hardening
Create Date: 2026-12-02

`agents.online_rubric_id` has no foreign key on purpose: rubrics already reference agents, and
adding a constraint to `agents` on SQLite means rebuilding the table (a DROP that would cascade
into its children). The evaluations service keeps it honest: it accepts only a rubric of the same
workspace and refuses to delete a rubric an agent scores online with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_online_scoring"
down_revision: str | None = "0007_identity_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rubrics", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("agents", sa.Column("online_rubric_id", sa.Uuid(), nullable=True))
    op.add_column("agents", sa.Column("online_sample_rate", sa.Float(), nullable=False, server_default="1.0"))
    op.create_table(
        "trace_dimension_scores",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("rubric_id", sa.Uuid(), nullable=False),
        sa.Column("dimension_key", sa.String(64), nullable=False),
        sa.Column("rubric_version", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("trace_start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("judged", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name="fk_trace_dimension_scores_workspace_id_workspaces",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rubric_id"],
            ["rubrics.id"],
            name="fk_trace_dimension_scores_rubric_id_rubrics",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "trace_id", "rubric_id", "dimension_key", name="pk_trace_dimension_scores"
        ),
    )
    op.create_index(
        "ix_trace_dimension_scores_agent_time",
        "trace_dimension_scores",
        ["workspace_id", "agent_id", "trace_start_time"],
    )
    op.create_index(
        "ix_trace_dimension_scores_rubric", "trace_dimension_scores", ["workspace_id", "rubric_id"]
    )


def _drop_columns(table: str, *columns: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a plain column in place; a batch rebuild would DROP the table.
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        return
    for column in columns:
        op.drop_column(table, column)


def downgrade() -> None:
    op.drop_index("ix_trace_dimension_scores_rubric", table_name="trace_dimension_scores")
    op.drop_index("ix_trace_dimension_scores_agent_time", table_name="trace_dimension_scores")
    op.drop_table("trace_dimension_scores")
    _drop_columns("agents", "online_sample_rate", "online_rubric_id")
    _drop_columns("rubrics", "version")
