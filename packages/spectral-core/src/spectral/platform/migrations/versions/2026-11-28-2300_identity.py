"""identity: users, accounts, memberships, workspaces, API keys, sessions

Revision ID: 0001_identity
Revises: 
Create Date: 2026-11-28
"""

from collections.abc import Sequence

revision: str = "0001_identity"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
