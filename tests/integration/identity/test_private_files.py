"""The embedded default's data directory is 0700, and its SQLite database (with its -wal and -shm
files) and generated JWT secret are 0600 from the moment they exist, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from spectral.platform.migrations.runner import upgrade
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Environment, Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: nothing below relies on it to keep files private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_generated_secret_and_data_dir_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "srv" / "data"
    settings = Settings(env=Environment.EMBEDDED, data_dir=data_dir)
    secret = settings.jwt_secret_value()
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "jwt_secret") == 0o600
    assert (data_dir / "jwt_secret").read_text() == secret
    # A second process reads the same secret rather than writing another.
    assert Settings(env=Environment.EMBEDDED, data_dir=data_dir).jwt_secret_value() == secret


@pytest.mark.usefixtures("open_umask")
async def test_sqlite_database_and_its_journal_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(env=Environment.EMBEDDED, data_dir=data_dir)
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)
    try:
        async with database.engine.begin() as conn:
            await conn.execute(sa.text("DELETE FROM revoked_tokens"))
        files = sorted(p.name for p in data_dir.iterdir())
        assert "spectral.db" in files
        assert _mode(data_dir) == 0o700
        assert {name: _mode(data_dir / name) for name in files} == dict.fromkeys(files, 0o600)
        assert {"spectral.db-wal", "spectral.db-shm"} <= set(files)
    finally:
        await database.dispose()


def test_an_existing_directory_is_left_as_the_operator_made_it(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    upgrade(f"sqlite:///{shared / 'spectral.db'}")
    assert _mode(shared) == 0o755
    assert _mode(shared / "spectral.db") == 0o600
