"""All SQL of the traces context; every statement is filtered by workspace.

The write path is one function, `store_spans`, with two implementations behind it: PostgreSQL
streams the batch with binary COPY straight into `spans` (inside a savepoint; a batch holding a span that
is stored already goes through a staging table and `INSERT … SELECT … ON CONFLICT DO NOTHING`
instead); SQLite uses one multi-row `INSERT … ON CONFLICT DO NOTHING`. Either way a batch of any
size is a handful of statements, and re-sent spans are no-ops. The affected traces are then
recomputed from their spans by one `INSERT … SELECT … ON CONFLICT DO UPDATE`, so a trace assembles
correctly whatever order its spans arrive in and however many requests they take.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
import psycopg
import sqlalchemy as sa
from psycopg.adapt import Dumper
from psycopg.errors import UniqueViolation
from psycopg.pq import Format
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.shared.pagination import PageParams
from spectral.platform.traces.models import IngestStats, Span, Trace, TraceFeedback
from spectral.platform.traces.normalise import NormalisedSpan, ServiceCounts

SPANS = Span.__table__  # type: ignore[attr-defined]
TRACES = Trace.__table__  # type: ignore[attr-defined]
INGEST_STATS = IngestStats.__table__  # type: ignore[attr-defined]

# Column order of a span row, shared by COPY and the multi-row insert.
SPAN_COLUMNS: tuple[str, ...] = tuple(column.name for column in SPANS.columns)
_JSON_SPAN_COLUMNS = frozenset(
    {"input_messages", "output_messages", "attributes", "resource_attributes", "events", "links"}
)


def _copy_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL type a binary COPY sends a span column as."""
    if column.name in _JSON_SPAN_COLUMNS:
        return "jsonb"
    kind = column.type
    if isinstance(kind, sa.TypeDecorator):  # sqlmodel's AutoString over String
        kind = kind.impl_instance
    for python_type, name in (
        (sa.Uuid, "uuid"),
        (sa.DateTime, "timestamptz"),
        (sa.Float, "float8"),
        (sa.BigInteger, "int8"),
        (sa.SmallInteger, "int2"),
        (sa.Integer, "int4"),
        (sa.Boolean, "bool"),
        (sa.String, "text"),
    ):
        if isinstance(kind, python_type):
            return name
    raise TypeError(f"no COPY type for spans.{column.name} ({kind!r})")


# Binary COPY: PostgreSQL takes uuids, timestamps and numbers as they are instead of parsing text.
SPAN_COPY_TYPES: tuple[str, ...] = tuple(_copy_type(column) for column in SPANS.columns)


class _JsonbFromText(Dumper):
    """A jsonb COPY field from the JSON text `span_rows` made: the binary jsonb format is a version
    byte (1) and the text. Chosen by type (`set_types`), never for `str` parameters in general."""

    format = Format.BINARY
    oid = psycopg.postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


class _JsonText(str):
    """Only the key `_JsonbFromText` is registered under (COPY picks dumpers by type name)."""

    __slots__ = ()


def span_copy(cursor: Any, table: str) -> str:
    """Ready `cursor` (sync or async) for a binary COPY of span rows; the COPY statement. After
    opening it, `set_types(SPAN_COPY_TYPES)` and write rows in `SPAN_COLUMNS` order."""
    cursor.adapters.register_dumper(_JsonText, _JsonbFromText)
    return f"COPY {table} ({', '.join(SPAN_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


async def _copy_rows(cursor: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    """COPY span rows (in `SPAN_COLUMNS` order) into `table`, in the binary format."""
    async with cursor.copy(span_copy(cursor, table)) as copy:
        copy.set_types(SPAN_COPY_TYPES)
        for row in rows:
            await copy.write_row(row)


_STAGING_TABLE = "spectral_span_batch"


async def _execute(session: AsyncSession, statement: Any, parameters: Any = None) -> sa.CursorResult[Any]:
    """A Core statement on the session's connection (in its transaction)."""
    connection = await session.connection()
    return await connection.execute(statement, parameters)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _json_text(value: Any) -> str | None:
    """JSON for a jsonb COPY field; PostgreSQL refuses the NUL character even escaped."""
    if value is None:
        return None
    try:
        text = orjson.dumps(value, default=str).decode()
    except TypeError:  # integers beyond 64 bits, which only the standard encoder writes
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("\\u0000", "") if "\\u0000" in text else text


def span_rows(
    workspace_id: uuid.UUID,
    spans: Iterable[NormalisedSpan],
    agent_ids: Mapping[str, uuid.UUID],
    now: datetime,
) -> list[tuple[Any, ...]]:
    """COPY rows in `SPAN_COLUMNS` order (JSON columns as JSON text)."""
    # The spans of one OTLP ResourceSpans share their resource: serialise it once.
    resources: dict[int, str | None] = {}
    rows = []
    for s in spans:
        resource = resources.get(id(s.resource_attributes))
        if resource is None:
            resource = resources[id(s.resource_attributes)] = _json_text(s.resource_attributes)
        rows.append(
            (
                workspace_id,
                s.trace_id,
                s.span_id,
                s.parent_span_id,
                s.name,
                s.kind,
                s.span_kind,
                s.service_name,
                s.scope_name,
                s.start_time,
                s.end_time,
                s.duration_ms,
                s.status,
                s.status_message,
                s.error_type,
                s.error_message,
                s.model,
                s.provider,
                s.operation,
                s.input_tokens,
                s.output_tokens,
                s.total_tokens,
                s.cost_usd,
                s.cost_estimated,
                s.finish_reason,
                s.tool_name,
                s.agent_key,
                s.agent_source,
                agent_ids.get(s.agent_key) if s.agent_key is not None else None,
                s.agent_version,
                s.session_id,
                s.input_text,
                s.output_text,
                _json_text(s.input_messages),
                _json_text(s.output_messages),
                _json_text(s.attributes),
                resource,
                _json_text(s.events),
                _json_text(s.links),
                now,
            )
        )
    return rows


def _dedupe(spans: Sequence[NormalisedSpan]) -> list[NormalisedSpan]:
    """One row per span id: a request may carry the same span twice (an exporter's retry)."""
    unique = {(s.trace_id, s.span_id): s for s in spans}
    return list(unique.values()) if len(unique) != len(spans) else list(spans)


async def store_spans(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    spans: Sequence[NormalisedSpan],
    agent_ids: Mapping[str, uuid.UUID],
    now: datetime,
) -> None:
    """Store a batch idempotently and bring the traces it touches up to date."""
    if not spans:
        return
    unique = _dedupe(spans)
    rows = span_rows(workspace_id, unique, agent_ids, now)
    trace_ids = sorted({s.trace_id for s in unique})
    if _dialect(session) == "postgresql":
        await _copy_spans_postgres(session, workspace_id, rows, trace_ids)
    else:
        await _insert_spans_portable(session, rows)
    starts = [s.start_time for s in unique]
    await _refresh_traces(session, workspace_id, trace_ids, (min(starts), max(starts)), now)


async def _stage_and_merge(cursor: Any, columns: str, rows: list[tuple[Any, ...]]) -> None:
    # One staging table per connection, made on first use and kept (no catalog churn per batch);
    # the move below empties it, and a rolled-back batch leaves nothing behind either.
    await cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING_TABLE} (LIKE spans INCLUDING DEFAULTS)")
    await _copy_rows(cursor, _STAGING_TABLE, rows)
    await cursor.execute(
        # Only module constants are interpolated (column names of the model), never input.
        f"WITH staged AS (DELETE FROM {_STAGING_TABLE} RETURNING {columns}) "  # noqa: S608
        f"INSERT INTO spans ({columns}) SELECT {columns} FROM staged "
        "ON CONFLICT (workspace_id, trace_id, span_id, start_time) DO NOTHING"
    )


async def _copy_spans_postgres(
    session: AsyncSession, workspace_id: uuid.UUID, rows: list[tuple[Any, ...]], trace_ids: list[str]
) -> None:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    columns = ", ".join(SPAN_COLUMNS)
    async with driver.cursor() as cursor:
        # Spans are new nearly always: COPY them straight into `spans`. A re-sent span (an exporter's
        # retry) makes that COPY fail on the primary key; then the batch goes through a staging
        # table and `ON CONFLICT DO NOTHING`, which skips what is stored already.
        await cursor.execute("SAVEPOINT spectral_span_copy")
        try:
            await _copy_rows(cursor, "spans", rows)
        except UniqueViolation:
            await cursor.execute("ROLLBACK TO SAVEPOINT spectral_span_copy")
            await _stage_and_merge(cursor, columns, rows)
        else:
            await cursor.execute("RELEASE SAVEPOINT spectral_span_copy")
        # Traces are recomputed from their spans; a per-trace lock held to commit makes the last
        # writer of a trace see every span committed before it (in a stable order: no deadlocks).
        await cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM "
            "(SELECT hashtextextended(%s || t, 0) AS k FROM unnest(%s::text[]) AS t ORDER BY 1) AS locks",
            (str(workspace_id), trace_ids),
        )


# The spans table as the portable insert sees it: JSON columns take the JSON text `span_rows`
# already made, so a missing value is SQL NULL (the JSON type would store the JSON `null`).
_SPANS_AS_TEXT = sa.Table(
    "spans",
    sa.MetaData(),
    *(
        sa.Column(column.name, sa.Text() if column.name in _JSON_SPAN_COLUMNS else column.type)
        for column in SPANS.columns
    ),
    sa.PrimaryKeyConstraint("workspace_id", "trace_id", "span_id"),
)


async def _insert_spans_portable(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    values = [dict(zip(SPAN_COLUMNS, row, strict=True)) for row in rows]
    await _execute(session, sqlite_insert(_SPANS_AS_TEXT).on_conflict_do_nothing(), values)


_SAME_TRACE = "s.workspace_id = a.workspace_id AND s.trace_id = a.trace_id"


def _first(column: str, where: str = "", order: str = "s.start_time") -> str:
    condition = f" AND {where}" if where else ""
    return f"(SELECT {column} FROM spans s WHERE {_SAME_TRACE}{condition} ORDER BY {order} LIMIT 1)"  # noqa: S608


_TRACE_COLUMNS = (
    "workspace_id, trace_id, root_span_id, name, agent_key, agent_id, agent_version, service_name, "
    "session_id, start_time, end_time, duration_ms, span_count, error_count, status, error_type, "
    "error_message, model, finish_reason, input_text, input_messages, output_text, input_tokens, "
    "output_tokens, total_tokens, cost_usd, created_at, updated_at"
)
_REFRESHED = [
    c.strip()
    for c in _TRACE_COLUMNS.split(",")
    if c.strip() not in {"workspace_id", "trace_id", "created_at"}
]
_AGENT_ORDER = "s.agent_source, s.start_time, s.span_id"


def _refresh_sql(duration: str, *, workspace: str, in_traces: str, now: str) -> str:
    """The trace upsert; built once at import from constants (no input is ever interpolated)."""
    updates = ", ".join(f"{column} = excluded.{column}" for column in _REFRESHED)
    return f"""
INSERT INTO traces ({_TRACE_COLUMNS})
SELECT a.workspace_id, a.trace_id, r.span_id, r.name,
  {_first("s.agent_key", "s.agent_key IS NOT NULL", _AGENT_ORDER)},
  {_first("s.agent_id", "s.agent_key IS NOT NULL", _AGENT_ORDER)},
  {_first("s.agent_version", "s.agent_version IS NOT NULL", _AGENT_ORDER)},
  r.service_name,
  {_first("s.session_id", "s.session_id IS NOT NULL")},
  a.start_time, a.end_time, {duration}, a.span_count, a.error_count,
  CASE WHEN r.status = 'error' OR a.llm_errors > 0 THEN 'error' ELSE 'ok' END,
  CASE WHEN r.status = 'error' THEN r.error_type ELSE {_first("s.error_type", "s.status = 'error'")} END,
  CASE WHEN r.status = 'error' THEN r.error_message ELSE {_first("s.error_message", "s.status = 'error'")} END,
  {_first("s.model", "s.kind = 'llm' AND s.model IS NOT NULL")},
  {_first("s.finish_reason", "s.kind = 'llm' AND s.finish_reason IS NOT NULL", "s.end_time DESC")},
  COALESCE(r.input_text, {_first("s.input_text", "s.input_text IS NOT NULL")}),
  CASE WHEN r.input_text IS NOT NULL THEN r.input_messages
       ELSE {_first("s.input_messages", "s.input_messages IS NOT NULL")} END,
  COALESCE(r.output_text, {_first("s.output_text", "s.output_text IS NOT NULL", "s.end_time DESC")}),
  a.input_tokens, a.output_tokens, a.total_tokens, a.cost_usd, {now}, {now}
FROM (
  SELECT workspace_id, trace_id, min(start_time) AS start_time, max(end_time) AS end_time,
    count(*) AS span_count,
    sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_count,
    sum(CASE WHEN kind = 'llm' AND status = 'error' THEN 1 ELSE 0 END) AS llm_errors,
    sum(CASE WHEN kind = 'llm' THEN input_tokens END) AS input_tokens,
    sum(CASE WHEN kind = 'llm' THEN output_tokens END) AS output_tokens,
    sum(CASE WHEN kind = 'llm' THEN total_tokens END) AS total_tokens,
    sum(CASE WHEN kind = 'llm' THEN cost_usd END) AS cost_usd
  FROM spans
  WHERE workspace_id = {workspace} AND trace_id {in_traces}
  GROUP BY workspace_id, trace_id
) AS a
JOIN spans r ON r.workspace_id = a.workspace_id AND r.trace_id = a.trace_id AND r.span_id = (
  SELECT s.span_id FROM spans s WHERE {_SAME_TRACE}
  ORDER BY CASE WHEN s.parent_span_id IS NULL THEN 0 ELSE 1 END, s.start_time, s.span_id LIMIT 1
)
WHERE true
ON CONFLICT (workspace_id, trace_id) DO UPDATE SET {updates}
"""  # noqa: S608


def _pick(column: str, where: str, order: str = "start_time, span_id") -> str:
    """The `column` of the first span (in `order`) that satisfies `where`, as one aggregate."""
    return f"(array_agg({column} ORDER BY {order}) FILTER (WHERE {where}))[1]"


_AGENT_ORDER_PG = "agent_source, start_time, span_id"
# PostgreSQL: one pass over the touched traces' spans (aggregates with FILTER, the root row by
# DISTINCT ON) instead of a dozen index probes per trace. The spans are read within the time the
# traces already cover and the batch adds (see `spans_of_traces`), given as values so that the
# plan itself holds only those days' partitions. Run on the driver with `prepare=False`:
# a prepared statement would soon get a generic plan, blind to which traces it is given.
_REFRESH_POSTGRES = f"""
WITH touched AS MATERIALIZED (
  SELECT * FROM spans WHERE workspace_id = %(workspace_id)s AND trace_id = ANY(%(trace_ids)s)
    AND start_time >= %(spans_from)s AND start_time <= %(spans_to)s
),
agg AS (
  SELECT trace_id, min(start_time) AS start_time, max(end_time) AS end_time, count(*) AS span_count,
    count(*) FILTER (WHERE status = 'error') AS error_count,
    count(*) FILTER (WHERE kind = 'llm' AND status = 'error') AS llm_errors,
    sum(input_tokens) FILTER (WHERE kind = 'llm') AS input_tokens,
    sum(output_tokens) FILTER (WHERE kind = 'llm') AS output_tokens,
    sum(total_tokens) FILTER (WHERE kind = 'llm') AS total_tokens,
    sum(cost_usd) FILTER (WHERE kind = 'llm') AS cost_usd,
    {_pick("agent_key", "agent_key IS NOT NULL", _AGENT_ORDER_PG)} AS agent_key,
    {_pick("agent_id", "agent_key IS NOT NULL", _AGENT_ORDER_PG)} AS agent_id,
    {_pick("agent_version", "agent_version IS NOT NULL", _AGENT_ORDER_PG)} AS agent_version,
    {_pick("session_id", "session_id IS NOT NULL")} AS session_id,
    {_pick("error_type", "status = 'error'")} AS first_error_type,
    {_pick("error_message", "status = 'error'")} AS first_error_message,
    {_pick("model", "kind = 'llm' AND model IS NOT NULL")} AS model,
    {_pick("finish_reason", "kind = 'llm' AND finish_reason IS NOT NULL", "end_time DESC, span_id")} AS finish_reason,
    {_pick("input_text", "input_text IS NOT NULL")} AS first_input_text,
    {_pick("input_messages", "input_messages IS NOT NULL")} AS first_input_messages,
    {_pick("output_text", "output_text IS NOT NULL", "end_time DESC, span_id")} AS last_output_text
  FROM touched GROUP BY trace_id
),
root AS (
  SELECT DISTINCT ON (trace_id) trace_id, span_id, name, service_name, status, error_type, error_message,
    input_text, input_messages, output_text
  FROM touched ORDER BY trace_id, parent_span_id IS NOT NULL, start_time, span_id
)
INSERT INTO traces ({_TRACE_COLUMNS})
SELECT %(workspace_id)s, a.trace_id, r.span_id, r.name, a.agent_key, a.agent_id, a.agent_version,
  r.service_name, a.session_id, a.start_time, a.end_time,
  CAST(EXTRACT(EPOCH FROM (a.end_time - a.start_time)) * 1000000 AS bigint) / 1000.0,
  a.span_count, a.error_count,
  CASE WHEN r.status = 'error' OR a.llm_errors > 0 THEN 'error' ELSE 'ok' END,
  CASE WHEN r.status = 'error' THEN r.error_type ELSE a.first_error_type END,
  CASE WHEN r.status = 'error' THEN r.error_message ELSE a.first_error_message END,
  a.model, a.finish_reason,
  COALESCE(r.input_text, a.first_input_text),
  CASE WHEN r.input_text IS NOT NULL THEN r.input_messages ELSE a.first_input_messages END,
  COALESCE(r.output_text, a.last_output_text),
  a.input_tokens, a.output_tokens, a.total_tokens, a.cost_usd, %(now)s, %(now)s
FROM agg a JOIN root r USING (trace_id)
ON CONFLICT (workspace_id, trace_id) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in _REFRESHED)}
"""  # noqa: S608


# Where the stored spans of the touched traces lie in time (see `spans_of_traces`).
_KNOWN_SPAN_TIMES = (
    "SELECT min(start_time), max(end_time) FROM traces "
    "WHERE workspace_id = %(workspace_id)s AND trace_id = ANY(%(trace_ids)s)"
)


# A trace's duration in integer microseconds (the stored resolution), then milliseconds: exact on
# both backends. SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" on SQLite, whose date functions
# parse the fraction to whole milliseconds and round (12:00:00.9999 reads as 12:00:01), so the whole
# seconds come from the text cut before the fraction (julianday of whole seconds, rounded back to
# integer seconds) and the microseconds from the fraction's digits.
_SQLITE_DURATION_MS = (
    "(CAST(round((julianday(substr(a.end_time, 1, 19)) - julianday(substr(a.start_time, 1, 19)))"
    " * 86400) AS INTEGER) * 1000000"
    " + CAST(substr(a.end_time, 21, 6) AS INTEGER) - CAST(substr(a.start_time, 21, 6) AS INTEGER))"
    " / 1000.0"
)
_REFRESH_SQLITE = sa.text(
    _refresh_sql(
        _SQLITE_DURATION_MS,
        workspace=":workspace_id",
        in_traces="IN :trace_ids",
        now=":now",
    )
).bindparams(
    sa.bindparam("workspace_id", type_=sa.Uuid()),
    sa.bindparam("trace_ids", expanding=True),
    sa.bindparam("now", type_=sa.DateTime(timezone=True)),
)


async def _refresh_traces(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    trace_ids: list[str],
    batch_starts: tuple[datetime, datetime],
    now: datetime,
) -> None:
    """Recompute the traces `trace_ids` from all their spans; `batch_starts` is the first and
    last start time among the spans just stored."""
    parameters: dict[str, Any] = {"workspace_id": workspace_id, "trace_ids": trace_ids, "now": now}
    if _dialect(session) == "postgresql":
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        first_start, last_start = batch_starts
        async with driver.cursor() as cursor:
            await cursor.execute(_KNOWN_SPAN_TIMES, parameters)
            known = await cursor.fetchone()
            spans_from = min(first_start, known[0]) if known and known[0] else first_start
            spans_to = max(last_start, known[1]) if known and known[1] else last_start
            await cursor.execute(
                _REFRESH_POSTGRES,
                {**parameters, "spans_from": spans_from, "spans_to": spans_to},
                prepare=False,
            )
        return
    await _execute(session, _REFRESH_SQLITE, parameters)


def _dialect_insert(session: AsyncSession, table: sa.Table) -> Any:
    return pg_insert(table) if _dialect(session) == "postgresql" else sqlite_insert(table)


async def add_ingest_counts(
    session: AsyncSession, workspace_id: uuid.UUID, by_service: Mapping[str, ServiceCounts], now: datetime
) -> None:
    """Add one request's counts to the workspace's per-service counters (one statement)."""
    if not by_service:
        return
    statement = _dialect_insert(session, INGEST_STATS).values(
        [
            {
                "workspace_id": workspace_id,
                "service_name": service[:255],
                "received": counts.received,
                "accepted": counts.accepted,
                "rejected": counts.rejected,
                "last_received_at": now,
            }
            for service, counts in sorted(by_service.items())
        ]
    )
    excluded = statement.excluded
    await _execute(
        session,
        statement.on_conflict_do_update(
            index_elements=["workspace_id", "service_name"],
            set_={
                "received": INGEST_STATS.c.received + excluded.received,
                "accepted": INGEST_STATS.c.accepted + excluded.accepted,
                "rejected": INGEST_STATS.c.rejected + excluded.rejected,
                "last_received_at": excluded.last_received_at,
            },
        ),
    )


async def ingest_stats(session: AsyncSession, workspace_id: uuid.UUID) -> list[IngestStats]:
    result = await session.exec(
        select(IngestStats)
        .where(IngestStats.workspace_id == workspace_id)
        .order_by(col(IngestStats.service_name))
    )
    return list(result.all())


# ------------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class AgentMatch:
    """Traces of one agent: resolved at ingest (`agent_id`) or named by a key the agent answers to
    (its slug, its id) — traces sent before the agent existed still count."""

    agent_id: uuid.UUID | None
    keys: frozenset[str]

    def condition(self) -> sa.ColumnElement[bool]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.agent_id is not None:
            clauses.append(col(Trace.agent_id) == self.agent_id)
        if self.keys:
            clauses.append(col(Trace.agent_key).in_(sorted(self.keys)))
        return sa.or_(*clauses) if clauses else sa.false()


@dataclass(frozen=True, slots=True)
class TraceFilter:
    agent: AgentMatch | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None
    model: str | None = None
    has_feedback: bool | None = None
    min_score: float | None = None
    max_score: float | None = None
    search: str | None = None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _trace_conditions(workspace_id: uuid.UUID, filters: TraceFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [col(Trace.workspace_id) == workspace_id]
    if filters.agent is not None:
        conditions.append(filters.agent.condition())
    if filters.start is not None:
        conditions.append(col(Trace.start_time) >= filters.start)
    if filters.end is not None:
        conditions.append(col(Trace.start_time) < filters.end)
    if filters.status is not None:
        conditions.append(col(Trace.status) == filters.status)
    if filters.model is not None:
        conditions.append(
            sa.exists().where(
                col(Span.workspace_id) == col(Trace.workspace_id),
                col(Span.trace_id) == col(Trace.trace_id),
                # Within the trace's time: PostgreSQL prunes to the trace's partitions.
                col(Span.start_time) >= col(Trace.start_time),
                col(Span.start_time) <= col(Trace.end_time),
                col(Span.model) == filters.model,
            )
        )
    if filters.has_feedback is not None:
        has = sa.exists().where(
            col(TraceFeedback.workspace_id) == col(Trace.workspace_id),
            col(TraceFeedback.trace_id) == col(Trace.trace_id),
        )
        conditions.append(has if filters.has_feedback else ~has)
    if filters.min_score is not None:
        conditions.append(col(Trace.score) >= filters.min_score)
    if filters.max_score is not None:
        conditions.append(col(Trace.score) <= filters.max_score)
    if filters.search:
        pattern = _like_pattern(filters.search)
        conditions.append(
            sa.or_(
                col(Trace.input_text).ilike(pattern, escape="\\"),
                col(Trace.output_text).ilike(pattern, escape="\\"),
            )
        )
    return conditions


async def list_traces(
    session: AsyncSession, workspace_id: uuid.UUID, filters: TraceFilter, page: PageParams
) -> tuple[list[Trace], int]:
    conditions = _trace_conditions(workspace_id, filters)
    total = await session.scalar(sa.select(sa.func.count()).select_from(Trace).where(*conditions))
    result = await session.exec(
        select(Trace)
        .where(*conditions)
        .order_by(col(Trace.start_time).desc(), col(Trace.trace_id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return list(result.all()), int(total or 0)


async def traces_in_window(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    filters: TraceFilter,
    *,
    limit: int,
) -> list[Trace]:
    """Traces by start time, oldest first (scans read a window in a stable order)."""
    result = await session.exec(
        select(Trace)
        .where(*_trace_conditions(workspace_id, filters))
        .order_by(col(Trace.start_time), col(Trace.trace_id))
        .limit(limit)
    )
    return list(result.all())


async def get_trace(session: AsyncSession, workspace_id: uuid.UUID, trace_id: str) -> Trace | None:
    result = await session.exec(
        select(Trace).where(Trace.workspace_id == workspace_id, Trace.trace_id == trace_id)
    )
    return result.first()


async def trace_exists(session: AsyncSession, workspace_id: uuid.UUID, trace_id: str) -> bool:
    found = await session.scalar(
        sa.select(sa.literal(1)).where(
            col(Trace.workspace_id) == workspace_id, col(Trace.trace_id) == trace_id
        )
    )
    return found is not None


class TraceWindow(Protocol):
    """What bounds a trace's spans: a `Trace` row, or a row of just these columns."""

    @property
    def trace_id(self) -> str: ...
    @property
    def start_time(self) -> datetime: ...
    @property
    def end_time(self) -> datetime: ...


def spans_of_traces(workspace_id: uuid.UUID, traces: Sequence[TraceWindow]) -> list[sa.ColumnElement[bool]]:
    """The conditions that select the spans of these traces. Every span of a trace starts within
    its trace's [start_time, end_time] (a span ending before it starts is refused), so the spans'
    start time is bounded by the traces' and PostgreSQL plans the read over the partitions of those
    days only, instead of probing every day's index."""
    return [
        col(Span.workspace_id) == workspace_id,
        col(Span.trace_id).in_([trace.trace_id for trace in traces]),
        col(Span.start_time) >= min(trace.start_time for trace in traces),
        col(Span.start_time) <= max(trace.end_time for trace in traces),
    ]


async def spans_of(session: AsyncSession, workspace_id: uuid.UUID, traces: Sequence[Trace]) -> list[Span]:
    """The spans of these traces (rows read in this transaction), by trace and start."""
    if not traces:
        return []
    result = await session.exec(
        select(Span)
        .where(*spans_of_traces(workspace_id, traces))
        .order_by(col(Span.trace_id), col(Span.start_time), col(Span.span_id))
    )
    return list(result.all())


@dataclass(frozen=True, slots=True)
class LlmSpanPrompt:
    trace_id: str
    span_id: str
    span_name: str
    model: str | None
    messages: list[dict[str, Any]]
    input_text: str | None
    start_time: datetime


async def llm_span_prompts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    agent: AgentMatch | None,
    span_name: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[LlmSpanPrompt]:
    conditions: list[sa.ColumnElement[bool]] = [
        col(Span.workspace_id) == workspace_id,
        col(Span.kind) == "llm",
        sa.or_(col(Span.input_messages).is_not(None), col(Span.input_text).is_not(None)),
    ]
    if span_name is not None:
        conditions.append(col(Span.name) == span_name)
    if start is not None:
        conditions.append(col(Span.start_time) >= start)
    if end is not None:
        conditions.append(col(Span.start_time) < end)
    statement = sa.select(
        SPANS.c.trace_id,
        SPANS.c.span_id,
        SPANS.c.name,
        SPANS.c.model,
        SPANS.c.input_messages,
        SPANS.c.input_text,
        SPANS.c.start_time,
    )
    if agent is not None:
        statement = statement.join(
            Trace,
            sa.and_(
                col(Trace.workspace_id) == col(Span.workspace_id), col(Trace.trace_id) == col(Span.trace_id)
            ),
        )
        conditions.append(agent.condition())
    result = await _execute(
        session,
        statement.where(*conditions).order_by(col(Span.start_time).desc(), col(Span.span_id)).limit(limit),
    )
    return [
        LlmSpanPrompt(
            trace_id=row.trace_id,
            span_id=row.span_id,
            span_name=row.name,
            model=row.model,
            messages=list(row.input_messages or []),
            input_text=row.input_text,
            start_time=row.start_time,
        )
        for row in result
    ]


# ------------------------------------------------------------------------------------------------
# Feedback and scores


async def feedback_of(session: AsyncSession, workspace_id: uuid.UUID, trace_id: str) -> list[TraceFeedback]:
    result = await session.exec(
        select(TraceFeedback)
        .where(TraceFeedback.workspace_id == workspace_id, TraceFeedback.trace_id == trace_id)
        .order_by(col(TraceFeedback.created_at), col(TraceFeedback.id))
    )
    return list(result.all())


async def feedback_page(
    session: AsyncSession, workspace_id: uuid.UUID, trace_id: str, page: PageParams
) -> tuple[list[TraceFeedback], int]:
    conditions = [col(TraceFeedback.workspace_id) == workspace_id, col(TraceFeedback.trace_id) == trace_id]
    total = await session.scalar(sa.select(sa.func.count()).select_from(TraceFeedback).where(*conditions))
    result = await session.exec(
        select(TraceFeedback)
        .where(*conditions)
        .order_by(col(TraceFeedback.created_at), col(TraceFeedback.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return list(result.all()), int(total or 0)


async def feedback_scores(
    session: AsyncSession, workspace_id: uuid.UUID, trace_ids: Sequence[str]
) -> dict[str, list[float]]:
    """The [0, 1] feedback values of each trace (thumbs and scores), oldest first."""
    if not trace_ids:
        return {}
    result = await _execute(
        session,
        sa.select(col(TraceFeedback.trace_id), col(TraceFeedback.score))
        .where(
            col(TraceFeedback.workspace_id) == workspace_id,
            col(TraceFeedback.trace_id).in_(list(trace_ids)),
            col(TraceFeedback.score).is_not(None),
        )
        .order_by(col(TraceFeedback.created_at), col(TraceFeedback.id)),
    )
    scores: dict[str, list[float]] = {}
    for row in result:
        scores.setdefault(row.trace_id, []).append(float(row.score))
    return scores


def add_feedback(session: AsyncSession, feedback: TraceFeedback) -> None:
    session.add(feedback)


@dataclass(frozen=True, slots=True)
class TraceScore:
    trace_id: str
    score: float
    details: dict[str, Any]


async def record_trace_scores(
    session: AsyncSession, workspace_id: uuid.UUID, scores: Sequence[TraceScore], now: datetime
) -> None:
    """Set the latest evaluation of traces (one batched statement)."""
    if not scores:
        return
    statement = (
        sa.update(TRACES)
        .where(TRACES.c.workspace_id == sa.bindparam("ws"), TRACES.c.trace_id == sa.bindparam("tid"))
        .values(
            score=sa.bindparam("new_score", type_=sa.Float()),
            scores=sa.bindparam("new_scores", type_=TRACES.c.scores.type),
            updated_at=now,
        )
    )
    await _execute(
        session,
        statement,
        [
            {"ws": workspace_id, "tid": s.trace_id, "new_score": s.score, "new_scores": s.details}
            for s in scores
        ],
    )


@dataclass(frozen=True, slots=True)
class TraceActivity:
    traces: int
    errors: int
    cost_usd: float
    last_received_at: datetime | None


async def activity_by_agent(
    session: AsyncSession, workspace_id: uuid.UUID, *, since: datetime | None = None
) -> dict[uuid.UUID | None, TraceActivity]:
    """Per agent (None: traces matched to no agent): traces received since `since` (all when
    None), how many failed, what they cost and when the newest arrived — one grouped query."""
    filters: list[Any] = [col(Trace.workspace_id) == workspace_id]
    if since is not None:
        filters.append(col(Trace.created_at) >= since)
    statement = (
        sa.select(
            col(Trace.agent_id),
            sa.func.count(),
            sa.func.sum(sa.case((col(Trace.status) == "error", 1), else_=0)),
            sa.func.sum(col(Trace.cost_usd)),
            sa.func.max(col(Trace.created_at)),
        )
        .where(*filters)
        .group_by(col(Trace.agent_id))
    )
    # Through the connection: sqlmodel's typed `exec` has no overload for a five-column select.
    rows = await (await session.connection()).execute(statement)
    return {
        agent_id: TraceActivity(
            traces=int(count),
            errors=int(errors or 0),
            cost_usd=float(cost or 0.0),
            last_received_at=last,
        )
        for agent_id, count, errors, cost, last in rows.all()
    }


@dataclass(frozen=True, slots=True)
class ModelUsage:
    agent_id: uuid.UUID
    model: str
    traces: int
    scored: int
    mean_score: float | None
    ok_share: float
    mean_cost_usd: float | None


async def model_usage(session: AsyncSession, workspace_id: uuid.UUID, *, since: datetime) -> list[ModelUsage]:
    """Per agent and model, over traces started since `since`: volume, mean evaluated score,
    share without error and mean cost (None where nothing was scored or priced)."""
    ok = sa.func.sum(sa.case((col(Trace.status) == "error", 0), else_=1))
    statement = (
        sa.select(
            col(Trace.agent_id),
            col(Trace.model),
            sa.func.count(),
            sa.func.count(col(Trace.score)),
            sa.func.avg(col(Trace.score)),
            ok,
            sa.func.avg(col(Trace.cost_usd)),
        )
        .where(
            col(Trace.workspace_id) == workspace_id,
            col(Trace.start_time) >= since,
            col(Trace.agent_id).is_not(None),
            col(Trace.model).is_not(None),
        )
        .group_by(col(Trace.agent_id), col(Trace.model))
        .order_by(col(Trace.agent_id), col(Trace.model))
    )
    rows = await (await session.connection()).execute(statement)
    return [
        ModelUsage(
            agent_id=agent_id,
            model=model,
            traces=int(count),
            scored=int(scored),
            mean_score=None if mean_score is None else float(mean_score),
            ok_share=int(ok_count or 0) / int(count),
            mean_cost_usd=None if mean_cost is None else float(mean_cost),
        )
        for agent_id, model, count, scored, mean_score, ok_count, mean_cost in rows.all()
    ]
