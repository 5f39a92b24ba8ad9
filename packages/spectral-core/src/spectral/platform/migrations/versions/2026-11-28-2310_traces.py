"""traces: traces, spans, feedback, ingest stats

Revision ID: 0002_traces
Revises: 0001_identity
Create Date: 2026-11-28
"""

from collections.abc import Sequence

revision: str = "0002_traces"
down_revision: str | None = "0001_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
