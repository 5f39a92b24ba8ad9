"""`Database.session()` starts as a writer unless told it only reads: on SQLite a unit that read
first and wrote second failed with "database is locked" when another writer committed between."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from spectral.platform.shared.db import Database


def _write_lock_taken(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    finally:
        other.close()
    return False


@pytest.mark.parametrize(("options", "locked"), [({}, True), ({"writes": False}, False)])
async def test_a_session_holds_the_write_lock_from_its_start_unless_it_only_reads(
    tmp_path: Path, options: dict[str, bool], locked: bool
) -> None:
    path = tmp_path / "spectral.db"
    db = Database(f"sqlite:///{path}")
    try:
        async with db.session(**options) as session:
            await session.exec(sa.select(sa.literal(1)))  # type: ignore[call-overload]
            assert _write_lock_taken(path) is locked
        assert _write_lock_taken(path) is False
    finally:
        await db.dispose()
