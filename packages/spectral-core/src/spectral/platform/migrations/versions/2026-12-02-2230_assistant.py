"""assistant: conversations, messages, approvals

Revision ID: 0009_assistant
Revises: 0008_online_scoring
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_assistant"
down_revision: str | None = "0008_online_scoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "assistant_conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("tokens_used", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_assistant_conversations"),
        _fk("assistant_conversations", "workspace_id", "workspaces"),
        _fk("assistant_conversations", "user_id", "users"),
    )
    op.create_index(
        "ix_assistant_conversations_workspace_user", "assistant_conversations", ["workspace_id", "user_id"]
    )

    op.create_table(
        "assistant_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("citations", JSON, nullable=False),
        sa.Column("tool_calls", JSON, nullable=False),
        sa.Column("planner", sa.String(20), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_assistant_messages"),
        _fk("assistant_messages", "conversation_id", "assistant_conversations"),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_assistant_messages_conversation_id_seq"),
    )

    op.create_table(
        "assistant_approvals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("tool", sa.String(60), nullable=False),
        sa.Column("arguments", JSON, nullable=False),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("required_scope", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _ts("expires_at"),
        sa.Column("decided_by", sa.String(80), nullable=True),
        _ts("decided_at", nullable=True),
        sa.Column("result", JSON, nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_assistant_approvals"),
        _fk("assistant_approvals", "workspace_id", "workspaces"),
        _fk("assistant_approvals", "conversation_id", "assistant_conversations"),
        _fk("assistant_approvals", "requested_by", "users"),
    )
    op.create_index(
        "ix_assistant_approvals_workspace_status", "assistant_approvals", ["workspace_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_assistant_approvals_workspace_status", table_name="assistant_approvals")
    op.drop_table("assistant_approvals")
    op.drop_table("assistant_messages")
    op.drop_index("ix_assistant_conversations_workspace_user", table_name="assistant_conversations")
    op.drop_table("assistant_conversations")
