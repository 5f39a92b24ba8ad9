"""model gateway: model configs, call ledger, response cache

Revision ID: 0005_models
Revises: 0004_scans
Create Date: 2026-11-28
"""

from collections.abc import Sequence

revision: str = "0005_models"
down_revision: str | None = "0004_scans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
