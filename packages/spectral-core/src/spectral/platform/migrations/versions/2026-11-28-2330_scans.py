"""scans, change sets, clusters, experiments, validations, model gateway

Revision ID: 0004_scans
Revises: 0003_agents
Create Date: 2026-11-28
"""

from collections.abc import Sequence

revision: str = "0004_scans"
down_revision: str | None = "0003_agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
