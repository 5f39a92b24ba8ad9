"""online scoring: per-agent online rubric, trace scores by rubric version

Revision ID: 0008_online_scoring
Revises: 0007_identity_hardening
Create Date: 2026-12-02
"""

from collections.abc import Sequence

revision: str = "0008_online_scoring"
down_revision: str | None = "0007_identity_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
