"""agents, config versions, managed templates, rubrics, objectives, sample sets and items

Revision ID: 0003_agents
Revises: 0002_traces
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_agents"
down_revision: str | None = "0002_traces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(column: str, table: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def _workspace(table: str) -> tuple[sa.Column, sa.ForeignKeyConstraint]:
    return sa.Column("workspace_id", sa.Uuid(), nullable=False), _fk("workspace_id", table, "workspaces")


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_workspace("agents"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("replay_url", sa.String(2000), nullable=True),
        sa.Column("active_version_number", sa.Integer(), nullable=True),
        sa.Column("active_config", JSON, nullable=True),
        sa.Column("active_etag", sa.String(80), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint("workspace_id", "slug", name="uq_agents_workspace_id_slug"),
    )
    op.create_index("ix_agents_workspace_id", "agents", ["workspace_id"])

    op.create_table(
        "agent_config_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_workspace("agent_config_versions"),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("tools", JSON, nullable=False),
        sa.Column("template_refs", JSON, nullable=False),
        sa.Column("resolved", JSON, nullable=False),
        sa.Column("etag", sa.String(80), nullable=False),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_agent_config_versions"),
        _fk("agent_id", "agent_config_versions", "agents"),
        sa.UniqueConstraint("agent_id", "number", name="uq_agent_config_versions_agent_id_number"),
    )
    op.create_index("ix_agent_config_versions_workspace_id", "agent_config_versions", ["workspace_id"])

    op.create_table(
        "agent_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_workspace("agent_templates"),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_agent_templates"),
        _fk("agent_id", "agent_templates", "agents"),
        sa.UniqueConstraint("agent_id", "name", name="uq_agent_templates_agent_id_name"),
    )
    op.create_index("ix_agent_templates_workspace_id", "agent_templates", ["workspace_id"])

    op.create_table(
        "agent_template_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_workspace("agent_template_versions"),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_agent_template_versions"),
        _fk("template_id", "agent_template_versions", "agent_templates"),
        sa.UniqueConstraint("template_id", "version", name="uq_agent_template_versions_template_id_version"),
    )
    op.create_index("ix_agent_template_versions_workspace_id", "agent_template_versions", ["workspace_id"])

    op.create_table(
        "rubrics",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_workspace("rubrics"),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("dimensions", JSON, nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_rubrics"),
        _fk("agent_id", "rubrics", "agents", ondelete="SET NULL"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_rubrics_workspace_id_name"),
    )
    op.create_index("ix_rubrics_workspace_id", "rubrics", ["workspace_id"])

    op.create_table(
        "objectives",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_workspace("objectives"),
        sa.Column("rubric_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("weights", JSON, nullable=False),
        sa.Column("constraints", JSON, nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_objectives"),
        _fk("rubric_id", "objectives", "rubrics", ondelete="RESTRICT"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_objectives_workspace_id_name"),
    )
    op.create_index("ix_objectives_workspace_id", "objectives", ["workspace_id"])
    op.create_index("ix_objectives_rubric_id", "objectives", ["rubric_id"])

    op.create_table(
        "sample_sets",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_workspace("sample_sets"),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sample_sets"),
        _fk("agent_id", "sample_sets", "agents", ondelete="SET NULL"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_sample_sets_workspace_id_name"),
    )
    op.create_index("ix_sample_sets_workspace_id", "sample_sets", ["workspace_id"])

    op.create_table(
        "sample_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_workspace("sample_items"),
        sa.Column("sample_set_id", sa.Uuid(), nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("expected_output", sa.Text(), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("source_trace_id", sa.String(32), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sample_items"),
        _fk("sample_set_id", "sample_items", "sample_sets"),
        sa.UniqueConstraint("sample_set_id", "input_hash", name="uq_sample_items_sample_set_id_input_hash"),
    )
    op.create_index("ix_sample_items_workspace_id", "sample_items", ["workspace_id"])


def downgrade() -> None:
    for table in (
        "sample_items",
        "sample_sets",
        "objectives",
        "rubrics",
        "agent_template_versions",
        "agent_templates",
        "agent_config_versions",
        "agents",
    ):
        op.drop_table(table)
