"""span and trace workspace keys: `spans` and `traces` no longer hold a foreign key to `workspaces`

Every span and trace row ingest writes checked its workspace row (a lookup and a share lock per
row): ~10 µs of PostgreSQL CPU per span, a quarter of the database's share of ingest. Nothing needs
it: workspaces are soft-deleted (`deleted_at`; a deleted workspace's credentials stop resolving, so
nothing more is written for it), no code deletes a workspace row, and spans and traces leave
through retention's own deletes, never through the cascade. The smaller tables (feedback, ingest
stats, scores) keep theirs. On PostgreSQL the key is dropped from the partitioned `spans` (its
partitions with it); SQLite rebuilds both tables (batch mode).

Revision ID: 0012_span_trace_workspace_fks
Revises: 0011_traces_created_index
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_span_trace_workspace_fks"
down_revision: str | None = "0011_traces_created_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("spans", "traces")


def _name(table: str) -> str:
    return f"fk_{table}_workspace_id_workspaces"


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(_name(table), type_="foreignkey")


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(_name(table), "workspaces", ["workspace_id"], ["id"], ondelete="CASCADE")
