"""change sets keep every validated verdict; scans keep a replay budget

Revision ID: 0006_changeset_verdicts
Revises: 0005_models
Create Date: 2026-12-02
"""

from collections.abc import Sequence

revision: str = "0006_changeset_verdicts"
down_revision: str | None = "0005_models"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
