"""span partitions: `spans` as daily RANGE partitions by start time (PostgreSQL)

`spans` becomes a partitioned table keyed by (workspace_id, trace_id, span_id, start_time); its
partitions live in the `span_partitions` schema, one per UTC day, plus a default partition for any
span outside the days that have one. Existing rows are carried over: every day that holds spans
(within the last year) and the days around today get a partition, the rest lands in the default.
From here on the worker creates partitions ahead (`traces.partitions`). SQLite keeps its table.

Revision ID: 0010_span_partitions
Revises: 0009_assistant
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from alembic import op

revision: str = "0010_span_partitions"
down_revision: str | None = "0009_assistant"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "span_partitions"
# Days of existing spans further back than this go to the default partition (a year of daily
# partitions at most; retention deletes the default partition's old rows in batches).
_CARRY_DAYS = 366
_AHEAD_DAYS = 7


def _bound(day: date) -> str:
    return f"'{day.isoformat()} 00:00:00+00'"


def _create_partition(day: date) -> None:
    op.execute(
        f"CREATE TABLE {SCHEMA}.spans_{day:%Y%m%d} PARTITION OF spans "
        f"FOR VALUES FROM ({_bound(day)}) TO ({_bound(day + timedelta(days=1))})"
    )


def _copy_statistics_targets(source: str) -> None:
    """`spans` samples no statistics on the columns `source` sampled none on (large, unfiltered)."""
    unsampled = op.get_bind().exec_driver_sql(
        "SELECT attname FROM pg_attribute WHERE attrelid = %(source)s::regclass "
        "AND attnum > 0 AND attstattarget = 0 ORDER BY attnum",
        {"source": source},
    )
    clauses = ", ".join(f'ALTER COLUMN "{name}" SET STATISTICS 0' for (name,) in unsampled)
    if clauses:
        op.execute(f"ALTER TABLE spans {clauses}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE spans RENAME TO spans_unpartitioned")
    op.execute("ALTER TABLE spans_unpartitioned RENAME CONSTRAINT pk_spans TO pk_spans_unpartitioned")
    op.execute(
        "ALTER TABLE spans_unpartitioned RENAME CONSTRAINT fk_spans_workspace_id_workspaces "
        "TO fk_spans_unpartitioned_workspace_id_workspaces"
    )
    op.execute(
        "CREATE TABLE spans (LIKE spans_unpartitioned INCLUDING DEFAULTS INCLUDING STORAGE) "
        "PARTITION BY RANGE (start_time)"
    )
    op.execute(
        "ALTER TABLE spans ADD CONSTRAINT pk_spans PRIMARY KEY (workspace_id, trace_id, span_id, start_time)"
    )
    op.execute(
        "ALTER TABLE spans ADD CONSTRAINT fk_spans_workspace_id_workspaces FOREIGN KEY (workspace_id) "
        "REFERENCES workspaces (id) ON DELETE CASCADE"
    )
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.execute(f"CREATE TABLE {SCHEMA}.spans_default PARTITION OF spans DEFAULT")
    today = datetime.now(UTC).date()
    rows = op.get_bind().exec_driver_sql(
        "SELECT DISTINCT (start_time AT TIME ZONE 'UTC')::date FROM spans_unpartitioned "
        "WHERE start_time >= %(since)s AND start_time < %(until)s",
        {
            "since": datetime.combine(today - timedelta(days=_CARRY_DAYS), datetime.min.time(), UTC),
            "until": datetime.combine(today + timedelta(days=_AHEAD_DAYS + 1), datetime.min.time(), UTC),
        },
    )
    days = {row[0] for row in rows} | {today + timedelta(days=n) for n in range(-1, _AHEAD_DAYS + 1)}
    for day in sorted(days):
        _create_partition(day)
    # The statistics targets of the old table (0 on the large unfiltered columns) carry over to
    # the parent, whence the worker copies them to each partition it creates.
    _copy_statistics_targets("spans_unpartitioned")
    op.execute("INSERT INTO spans SELECT * FROM spans_unpartitioned")
    op.execute("DROP TABLE spans_unpartitioned")
    op.execute("ANALYZE spans")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE spans RENAME TO spans_partitioned")
    op.execute("ALTER TABLE spans_partitioned RENAME CONSTRAINT pk_spans TO pk_spans_partitioned")
    op.execute(
        "ALTER TABLE spans_partitioned RENAME CONSTRAINT fk_spans_workspace_id_workspaces "
        "TO fk_spans_partitioned_workspace_id_workspaces"
    )
    op.execute("CREATE TABLE spans (LIKE spans_partitioned INCLUDING DEFAULTS INCLUDING STORAGE)")
    op.execute("ALTER TABLE spans ADD CONSTRAINT pk_spans PRIMARY KEY (workspace_id, trace_id, span_id)")
    op.execute(
        "ALTER TABLE spans ADD CONSTRAINT fk_spans_workspace_id_workspaces FOREIGN KEY (workspace_id) "
        "REFERENCES workspaces (id) ON DELETE CASCADE"
    )
    _copy_statistics_targets("spans_partitioned")
    # The narrower key holds one row per span id: where two rows differ only in start time (a
    # span id reused by a client), the first received stays.
    op.execute(
        "INSERT INTO spans SELECT DISTINCT ON (workspace_id, trace_id, span_id) * FROM spans_partitioned "
        "ORDER BY workspace_id, trace_id, span_id, received_at, start_time"
    )
    op.execute("DROP TABLE spans_partitioned")
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
