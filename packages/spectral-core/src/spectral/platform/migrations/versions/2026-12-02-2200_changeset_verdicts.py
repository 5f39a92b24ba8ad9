"""change sets keep every validated verdict; scans keep a replay budget

Revision ID: 0006_changeset_verdicts
Revises: 0005_models
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_changeset_verdicts"
down_revision: str | None = "0005_models"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every validated verdict is now a change set and the list filters by it. (The replay budget
    # lives in the scan's JSON parameters and report: no column needed.)
    op.create_index("ix_changesets_workspace_verdict", "changesets", ["workspace_id", "verdict"])


def downgrade() -> None:
    op.drop_index("ix_changesets_workspace_verdict", table_name="changesets")
