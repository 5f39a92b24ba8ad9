"""traces created index: `traces (workspace_id, created_at)` for activity since a time

The dashboard's and the supervisor's activity by agent (`traces.repository.activity_by_agent`)
counts a workspace's traces received since a time, by `created_at`; without an index on it the
query read every trace of the workspace (476 ms at 2M traces). `created_at` never changes after
the insert, so roll-up updates of a trace's status and cost stay HOT updates.

Revision ID: 0011_traces_created_index
Revises: 0010_span_partitions
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_traces_created_index"
down_revision: str | None = "0010_span_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_traces_workspace_created", "traces", ["workspace_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_traces_workspace_created", table_name="traces")
