"""model gateway: model configs, call ledger, response cache

Revision ID: 0005_models
Revises: 0004_scans
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_models"
down_revision: str | None = "0004_scans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"], name=f"fk_{table}_workspace_id_workspaces", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "model_configs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("input_per_million", sa.Float(), nullable=True),
        sa.Column("output_per_million", sa.Float(), nullable=True),
        sa.Column("context_window", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("roles", JSON, nullable=False),
        sa.Column("updated_by", sa.String(80), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_model_configs"),
        sa.UniqueConstraint("model", name="uq_model_configs_model"),
    )

    op.create_table(
        "model_calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("scan_id", sa.Uuid(), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(2000), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_model_calls"),
        _workspace_fk("model_calls"),
    )
    op.create_index("ix_model_calls_workspace_id", "model_calls", ["workspace_id"])
    op.create_index("ix_model_calls_scan_id", "model_calls", ["scan_id"])
    op.create_index("ix_model_calls_model_created_at", "model_calls", ["model", "created_at"])

    op.create_table(
        "model_response_cache",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt_hash", sa.String(64), nullable=False),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("finish_reason", sa.String(40), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_model_response_cache"),
        _workspace_fk("model_response_cache"),
        sa.UniqueConstraint(
            "workspace_id", "model", "prompt_hash", "params_hash", name="uq_model_response_cache_key"
        ),
    )


def downgrade() -> None:
    op.drop_table("model_response_cache")
    op.drop_index("ix_model_calls_model_created_at", table_name="model_calls")
    op.drop_index("ix_model_calls_scan_id", table_name="model_calls")
    op.drop_index("ix_model_calls_workspace_id", table_name="model_calls")
    op.drop_table("model_calls")
    op.drop_table("model_configs")
