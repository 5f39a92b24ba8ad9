"""Run Alembic programmatically, so `spectral-admin migrate`, embedded start-up and tests share one path."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

import spectral.platform
from spectral.platform.shared.db import sync_url
from spectral.platform.shared.private_files import private_sqlite_file
from spectral.platform.shared.startup import StartupError

MIGRATIONS_DIR = Path(__file__).parent


def import_all_models() -> None:
    """Import every context's `models` module so the one metadata knows every table."""
    for info in pkgutil.iter_modules(spectral.platform.__path__):
        if info.ispkg and info.name not in {"migrations", "shared"}:
            try:
                importlib.import_module(f"spectral.platform.{info.name}.models")
            except ModuleNotFoundError as exc:
                if exc.name != f"spectral.platform.{info.name}.models":
                    raise


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    config.set_main_option(
        "file_template", "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s"
    )
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    private_sqlite_file(sync_url(database_url))
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def behind_head(database_url: str, *, newer_is_fine: bool = False) -> str | None:
    """Why the database's schema cannot be used as it is (none yet, or not the latest revision),
    or None when its schema is the latest — or, with `newer_is_fine`, a revision this code does not
    know (a newer release migrated it; its schema stays compatible during a rolling upgrade). A
    database that cannot be reached raises."""
    url = sync_url(database_url)
    script = ScriptDirectory.from_config(alembic_config(database_url))
    head = script.get_current_head()
    private_sqlite_file(url)  # opening a SQLite file creates it: private, as every start creates it
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    if current == head:
        return None
    if current is None:
        return "the database has no schema yet"
    if newer_is_fine and not _known(script, current):
        return None
    return f"the database is at revision {current}, not the latest ({head})"


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:  # alembic's word for a revision its scripts do not have
        return False


def require_latest_schema(database_url: str, *, newer_is_fine: bool = False) -> None:
    """Raise StartupError, saying to migrate, unless the database's schema is the latest."""
    problem = behind_head(database_url, newer_is_fine=newer_is_fine)
    if problem is not None:
        raise StartupError(f"{problem}: run `spectral-admin migrate` (`make migrate`) first")
