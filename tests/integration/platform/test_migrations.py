"""One Alembic history: it builds the schema from empty, matches the models, and tears down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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


def _span_row(workspace: uuid.UUID, trace: str, span: str, start: datetime) -> dict[str, object]:
    return {
        "ws": workspace,
        "trace": trace,
        "span": span,
        "start": start,
        "end": start + timedelta(seconds=1),
    }


_INSERT_SPAN = (
    "INSERT INTO spans (workspace_id, trace_id, span_id, name, kind, span_kind, start_time, end_time, "
    "duration_ms, status, cost_estimated, attributes, resource_attributes, received_at) "
    "VALUES (%(ws)s, %(trace)s, %(span)s, 'step', 'other', 'internal', %(start)s, %(end)s, 1000, 'ok', "
    "false, '{}', '{}', now())"
)


@pytest.mark.postgres
def test_span_partitions_carry_existing_spans_over_and_back(empty_pg_url: str) -> None:
    upgrade(empty_pg_url, "0009_assistant")
    workspace = uuid.uuid4()
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    spans = [
        _span_row(workspace, "a" * 32, "0000000000000001", today - timedelta(days=3)),
        _span_row(workspace, "a" * 32, "0000000000000002", today),
        # Older than the days the migration makes partitions for: the default partition keeps it.
        _span_row(workspace, "b" * 32, "0000000000000003", today - timedelta(days=800)),
    ]
    with psycopg.connect(empty_pg_url) as conn:
        account = uuid.uuid4()
        conn.execute(
            "INSERT INTO accounts (id, name, is_operations, created_at, updated_at) "
            "VALUES (%s, 'a', false, now(), now())",
            (account,),
        )
        conn.execute(
            "INSERT INTO workspaces (id, account_id, name, created_at, updated_at) "
            "VALUES (%s, %s, 'w', now(), now())",
            (workspace, account),
        )
        for row in spans:
            conn.execute(_INSERT_SPAN, row)

    upgrade(empty_pg_url)
    with psycopg.connect(empty_pg_url) as conn:
        placed = dict(
            conn.execute("SELECT span_id, tableoid::regclass::text FROM spans ORDER BY span_id").fetchall()
        )
        key = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_spans'"
        ).fetchone()
    assert placed == {
        "0000000000000001": f"span_partitions.spans_{today - timedelta(days=3):%Y%m%d}",
        "0000000000000002": f"span_partitions.spans_{today:%Y%m%d}",
        "0000000000000003": "span_partitions.spans_default",
    }
    assert key == ("PRIMARY KEY (workspace_id, trace_id, span_id, start_time)",)
    # A span sent again with the same start time is the same row, whichever partition holds it.
    with psycopg.connect(empty_pg_url) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(_INSERT_SPAN, spans[0])

    downgrade(empty_pg_url, "0009_assistant")
    with psycopg.connect(empty_pg_url) as conn:
        rows = conn.execute("SELECT span_id FROM spans ORDER BY span_id").fetchall()
        partitioned = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'spans'").fetchone()
        schema = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'span_partitions'").fetchone()
    assert rows == [("0000000000000001",), ("0000000000000002",), ("0000000000000003",)]
    assert partitioned == ("r",)
    assert schema is None


def _workspace_keys(url: str) -> dict[str, set[str]]:
    """The tables among `spans` and `traces` with a foreign key to `workspaces`, and its names."""
    engine = sa.create_engine(sync_url(url))
    try:
        inspector = sa.inspect(engine)
        return {
            table: {
                key["name"]
                for key in inspector.get_foreign_keys(table)
                if key["referred_table"] == "workspaces"
            }
            for table in ("spans", "traces")
        }
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_span_and_trace_workspace_keys_drop_and_come_back_postgres(empty_pg_url: str) -> None:
    upgrade(empty_pg_url)
    assert _workspace_keys(empty_pg_url) == {"spans": set(), "traces": set()}
    with psycopg.connect(empty_pg_url) as conn:
        # The partitions of `spans` lost the key with their parent.
        inherited = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = 'workspaces'::regclass "
            "AND conrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'spans'::regclass)"
        ).fetchone()
    assert inherited == (0,)
    downgrade(empty_pg_url, "0011_traces_created_index")
    assert _workspace_keys(empty_pg_url) == {
        "spans": {"fk_spans_workspace_id_workspaces"},
        "traces": {"fk_traces_workspace_id_workspaces"},
    }
    upgrade(empty_pg_url)
    assert _workspace_keys(empty_pg_url) == {"spans": set(), "traces": set()}


def test_span_and_trace_workspace_keys_drop_and_come_back_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    assert _workspace_keys(url) == {"spans": set(), "traces": set()}
    downgrade(url, "0011_traces_created_index")
    assert _workspace_keys(url) == {
        "spans": {"fk_spans_workspace_id_workspaces"},
        "traces": {"fk_traces_workspace_id_workspaces"},
    }
    upgrade(url)
    assert _workspace_keys(url) == {"spans": set(), "traces": set()}
