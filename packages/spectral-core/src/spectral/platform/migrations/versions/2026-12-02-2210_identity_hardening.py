"""identity hardening: the outbox keeps one-time tokens apart from the body, and only until sent

Reset and invite tokens were already stored as SHA-256 digests in their own tables, but the
outbox kept each mail's plaintext token in its body for good. The token now lives in
`mail_outbox.secret` (the body holds a placeholder) until the mail is sent or the token expires.

Existing mail is rewritten the same way: the token is cut out of every body; an unsent mail
whose token is still valid keeps it in `secret`, every other one loses it.

Revision ID: 0007_identity_hardening
Revises: 0006_changeset_verdicts
Create Date: 2026-12-02
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0007_identity_hardening"
down_revision: str | None = "0006_changeset_verdicts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of what the application used when this revision was written: migrations never
# import application code, which moves on.
PLACEHOLDER = "{{one-time token}}"
TOKEN_LINE = re.compile(r"(?:Reset|Invite) token: ([A-Za-z0-9_-]+)")
LIFETIME = {"password_reset": timedelta(minutes=30), "invite": timedelta(days=7)}

outbox = sa.table(
    "mail_outbox",
    sa.column("id", sa.Uuid()),
    sa.column("body", sa.Text()),
    sa.column("kind", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("sent_at", sa.DateTime(timezone=True)),
    sa.column("secret", sa.String()),
    sa.column("secret_expires_at", sa.DateTime(timezone=True)),
)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("mail_outbox") as batch:
        batch.add_column(sa.Column("secret", sa.String(200), nullable=True))
        batch.add_column(sa.Column("secret_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_mail_outbox_secret_expires_at", ["secret_expires_at"])
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.body, outbox.c.kind, outbox.c.created_at, outbox.c.sent_at).where(
            outbox.c.kind.in_(list(LIFETIME))
        )
    ).all()
    for row in rows:
        match = TOKEN_LINE.search(row.body)
        if match is None:
            continue
        token = match.group(1)
        expires_at = _utc(row.created_at) + LIFETIME[row.kind]
        keep = row.sent_at is None and expires_at > now
        bind.execute(
            sa.update(outbox)
            .where(outbox.c.id == row.id)
            .values(
                body=row.body.replace(token, PLACEHOLDER),
                secret=token if keep else None,
                secret_expires_at=expires_at,
            )
        )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.body, outbox.c.secret).where(outbox.c.body.contains(PLACEHOLDER))
    ).all()
    for row in rows:
        # A token already forgotten stays forgotten: the old schema gets a marker, not a secret.
        body = row.body.replace(PLACEHOLDER, row.secret or "[expired]")
        bind.execute(sa.update(outbox).where(outbox.c.id == row.id).values(body=body))
    with op.batch_alter_table("mail_outbox") as batch:
        batch.drop_index("ix_mail_outbox_secret_expires_at")
        batch.drop_column("secret_expires_at")
        batch.drop_column("secret")
