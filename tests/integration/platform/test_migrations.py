"""One Alembic history: it builds the schema from empty, matches the models, and tears down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from spectral.platform.migrations.runner import downgrade, import_all_models, upgrade
from spectral.platform.shared.db import metadata, sync_url
from testenv import PG_ADMIN_DSN


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    name = f"spectral_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(sync_url(url))
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _schema_drift(url: str) -> list[object]:
    import_all_models()
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_upgrade_matches_models_and_downgrade_empties(empty_pg_url: str) -> None:
    upgrade(empty_pg_url)
    assert _tables(empty_pg_url) == set(metadata.tables)
    assert _schema_drift(empty_pg_url) == []
    downgrade(empty_pg_url, "base")
    assert _tables(empty_pg_url) == set()
    upgrade(empty_pg_url)
    assert _tables(empty_pg_url) == set(metadata.tables)


def test_sqlite_upgrade_and_downgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    import_all_models()
    assert _tables(url) == set(metadata.tables)
    downgrade(url, "base")
    assert _tables(url) == set()
