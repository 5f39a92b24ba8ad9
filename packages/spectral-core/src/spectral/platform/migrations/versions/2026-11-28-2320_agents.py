"""agents, templates, rubrics, objectives, samples, audit log

Revision ID: 0003_agents
Revises: 0002_traces
Create Date: 2026-11-28
"""

from collections.abc import Sequence

revision: str = "0003_agents"
down_revision: str | None = "0002_traces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
