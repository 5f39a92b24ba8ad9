"""Revision 0007 on existing data: one-time tokens leave the outbox's bodies; an unsent mail with
a live token keeps it apart (to be sent), every other loses it; downgrade puts back what is left.
Runs on SQLite and PostgreSQL, each in a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from spectral.platform.migrations.runner import downgrade, upgrade
from spectral.platform.shared.db import sync_url
from testenv import PG_ADMIN_DSN

BEFORE, AFTER = "0006_changeset_verdicts", "0007_identity_hardening"
SENT_TOKEN, LIVE_TOKEN, LAPSED_TOKEN = "sentTOKEN" + "a" * 34, "liveTOKEN" + "b" * 34, "lapsedTOK" + "c" * 34


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outbox.db'}"
        return
    name = f"spectral_outbox_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _body(kind: str, token: str) -> str:
    label = "Reset" if kind == "password_reset" else "Invite"
    return f"Hello.\n\n{label} token: {token}\nOr open: http://x/accept?token={token}\n\nBye."


def test_upgrade_moves_tokens_out_of_bodies_and_downgrade_restores(url: str) -> None:
    upgrade(url, BEFORE)
    now = datetime.now(UTC)
    rows = {
        # kind, token, created, sent
        "sent": ("password_reset", SENT_TOKEN, now - timedelta(minutes=5), now - timedelta(minutes=4)),
        "live": ("invite", LIVE_TOKEN, now - timedelta(days=1), None),
        "lapsed": ("password_reset", LAPSED_TOKEN, now - timedelta(hours=2), None),
        "plain": ("notice", "", now, None),
    }
    ids = {name: uuid.uuid4() for name in rows}
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            for name, (kind, token, created, sent) in rows.items():
                conn.execute(
                    sa.text(
                        "INSERT INTO mail_outbox (id, to_address, subject, body, kind, created_at, sent_at, attempts)"
                        " VALUES (:id, 'a@example.com', 's', :body, :kind, :created, :sent, 0)"
                    ),
                    {
                        "id": ids[name] if engine.dialect.name == "postgresql" else ids[name].hex,
                        "body": _body(kind, token) if token else "No secret here.",
                        "kind": kind,
                        "created": created,
                        "sent": sent,
                    },
                )
        upgrade(url, AFTER)
        with engine.connect() as conn:
            after = {
                name: conn.execute(
                    sa.text("SELECT body, secret, secret_expires_at FROM mail_outbox WHERE id = :id").columns(
                        secret_expires_at=sa.DateTime(timezone=True)
                    ),
                    {"id": ids[name] if engine.dialect.name == "postgresql" else ids[name].hex},
                ).one()
                for name in rows
            }
        for name in ("sent", "live", "lapsed"):
            kind = rows[name][0]
            assert after[name].body == _body(kind, "{{one-time token}}")
        # Only the unsent mail whose token still works keeps it, beside the body, with its expiry.
        assert (after["sent"].secret, after["live"].secret, after["lapsed"].secret) == (
            None,
            LIVE_TOKEN,
            None,
        )
        live_expiry = after["live"].secret_expires_at
        live_expiry = live_expiry if live_expiry.tzinfo else live_expiry.replace(tzinfo=UTC)
        assert live_expiry == rows["live"][2] + timedelta(days=7)
        assert tuple(after["plain"]) == ("No secret here.", None, None)
        downgrade(url, BEFORE)
        with engine.connect() as conn:
            restored = sorted(conn.execute(sa.text("SELECT body FROM mail_outbox")).scalars())
        assert restored == sorted(
            [
                _body("invite", LIVE_TOKEN),
                _body("password_reset", "[expired]"),
                _body("password_reset", "[expired]"),
                "No secret here.",
            ]
        )
    finally:
        engine.dispose()
