"""assistant: conversations, messages, approvals

Revision ID: 0009_assistant
Revises: 0008_online_scoring
Create Date: 2026-12-02
"""

from collections.abc import Sequence

revision: str = "0009_assistant"
down_revision: str | None = "0008_online_scoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
