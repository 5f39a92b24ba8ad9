"""identity hardening: hashed one-time tokens, login throttling

Revision ID: 0007_identity_hardening
Revises: 0006_changeset_verdicts
Create Date: 2026-12-02
"""

from collections.abc import Sequence

revision: str = "0007_identity_hardening"
down_revision: str | None = "0006_changeset_verdicts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
