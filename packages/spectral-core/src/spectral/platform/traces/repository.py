"""All SQL of the traces context; every statement is filtered by workspace.

The write path is one function, `store_spans`, with two implementations behind it: PostgreSQL
streams the batch with binary COPY straight into `spans` (inside a savepoint; a batch holding a span that
is stored already goes through a staging table and `INSERT … SELECT … ON CONFLICT DO NOTHING`
instead); SQLite uses one multi-row `INSERT … ON CONFLICT DO NOTHING`. Either way a batch of any
size is a handful of statements (on PostgreSQL 5 round trips with BEGIN and COMMIT, statements
that need no answer in between pipelined), and re-sent spans are no-ops. The traces that got new spans are then
rolled up (`rollup`: a new trace from the batch's spans alone, a trace already stored from all its
spans read back) and upserted by one statement, so a trace assembles correctly whatever order its
spans arrive in and however many requests they take.
"""

from __future__ import annotations

import operator
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
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.shared.clock import as_utc
from spectral.platform.shared.db import driver_in_transaction
from spectral.platform.shared.pagination import PageParams
from spectral.platform.traces.models import IngestStats, Span, Trace, TraceFeedback
from spectral.platform.traces.normalise import NormalisedSpan, ServiceCounts, SpanJson, json_text
from spectral.platform.traces.rollup import (
    SPAN_FACT_COLUMNS,
    TRACE_ROLLUP_COLUMNS,
    SpanFacts,
    TraceRollup,
    roll_up_traces,
)

SPANS = Span.__table__  # type: ignore[attr-defined]
TRACES = Trace.__table__  # type: ignore[attr-defined]
INGEST_STATS = IngestStats.__table__  # type: ignore[attr-defined]

# Column order of a span row, shared by COPY and the multi-row insert.
SPAN_COLUMNS: tuple[str, ...] = tuple(column.name for column in SPANS.columns)
_JSON_SPAN_COLUMNS = frozenset(column.name for column in SPANS.columns if isinstance(column.type, sa.JSON))


def _pg_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL type a column's values are sent as (binary COPY, `json_to_recordset`)."""
    kind = column.type
    if isinstance(kind, sa.JSON):
        return "jsonb"
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
    raise TypeError(f"no PostgreSQL type for {column.table.name}.{column.name} ({kind!r})")


# Binary COPY: PostgreSQL takes uuids, timestamps and numbers as they are instead of parsing text.
SPAN_COPY_TYPES: tuple[str, ...] = tuple(_pg_type(column) for column in SPANS.columns)


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
            resource = resources[id(s.resource_attributes)] = json_text(s.resource_attributes)
        stored = SpanJson.of(s)
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
                stored.input_messages,
                stored.output_messages,
                stored.attributes,
                resource,
                stored.events,
                stored.links,
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
    by_service: Mapping[str, ServiceCounts],
    now: datetime,
) -> None:
    """Store a batch idempotently, bring the traces it adds spans to up to date and add the
    request's counts (`by_service`) to the workspace's per-service counters."""
    rows = span_rows(workspace_id, _dedupe(spans), agent_ids, now) if spans else []
    if _dialect(session) == "postgresql":
        await _store_postgres(session, workspace_id, rows, by_service, now)
        return
    if rows:
        touched = await _insert_spans_portable(session, rows)
        if touched:
            known = await _stored_traces_portable(session, workspace_id, sorted(touched))
            rollups = await _roll_up(session, workspace_id, rows, touched, known)
            await _upsert_traces_portable(session, workspace_id, rollups, now)
    await _add_counts_portable(session, workspace_id, by_service, now)


async def _store_postgres(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    rows: list[tuple[Any, ...]],
    by_service: Mapping[str, ServiceCounts],
    now: datetime,
) -> None:
    """The PostgreSQL write path in as few round trips as it can be: trace locks, which traces
    have a row and the savepoint in one; the COPY; the stored spans of traces that had a row (only
    then); the traces' and the counters' upserts in one."""
    driver = await driver_in_transaction(session)
    rollups: list[TraceRollup] = []
    if rows:
        known, touched = await _lock_and_copy(driver, workspace_id, rows)
        rollups = await _roll_up(
            session, workspace_id, rows, touched, [w for w in known if w.trace_id in touched]
        )
    counts = _count_rows(workspace_id, by_service, now)
    if not (rollups or counts):
        return
    async with driver.cursor() as cursor, driver.pipeline():
        if rollups:
            rows_json = orjson.dumps([_json_row((workspace_id, *rollup, now, now)) for rollup in rollups])
            await cursor.execute(_UPSERT_TRACES_POSTGRES, (rows_json.decode(),))
        if counts:
            await cursor.execute(_ADD_COUNTS_POSTGRES, (orjson.dumps(counts).decode(),))


async def _lock_and_copy(
    driver: Any, workspace_id: uuid.UUID, rows: list[tuple[Any, ...]]
) -> tuple[list[_Window], set[str]]:
    """COPY the rows into `spans`, skipping those stored already: (the batch's traces that have a
    row, with the time their stored spans cover; the traces that got new spans).

    Each of the batch's traces is locked first, to commit: the next writer of a trace waits for
    this one and then reads its row and spans (locks taken in a stable order: no deadlocks). The
    ids travel as one JSON array (psycopg adapts a list element by element, in Python)."""
    ids = orjson.dumps(sorted({row[_TRACE_ID_OF_ROW] for row in rows})).decode()
    async with driver.cursor() as cursor, driver.cursor() as stored:
        async with driver.pipeline():
            await cursor.execute(_LOCK_TRACES, (str(workspace_id), ids))
            await stored.execute(_STORED_TRACES, (workspace_id, ids))
            # Left open on success: the commit releases it (a RELEASE would be a round trip).
            await cursor.execute("SAVEPOINT spectral_span_copy")
        known = [
            _Window(trace_id, as_utc(start), as_utc(end)) for trace_id, start, end in await stored.fetchall()
        ]
        # Spans are new nearly always: COPY them straight into `spans`. A re-sent span (an exporter's
        # retry) makes that COPY fail on the primary key; then the batch goes through a staging
        # table and `ON CONFLICT DO NOTHING`, which skips what is stored already.
        try:
            await _copy_rows(cursor, "spans", rows)
        except UniqueViolation:
            await cursor.execute("ROLLBACK TO SAVEPOINT spectral_span_copy")
            return known, await _stage_and_merge(cursor, ", ".join(SPAN_COLUMNS), rows)
    return known, {row[_TRACE_ID_OF_ROW] for row in rows}


async def _stage_and_merge(cursor: Any, columns: str, rows: list[tuple[Any, ...]]) -> set[str]:
    """Insert the rows not stored yet; the traces they belong to."""
    # One staging table per connection, made on first use and kept (no catalog churn per batch);
    # the move below empties it, and a rolled-back batch leaves nothing behind either.
    await cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING_TABLE} (LIKE spans INCLUDING DEFAULTS)")
    await _copy_rows(cursor, _STAGING_TABLE, rows)
    await cursor.execute(
        # Only module constants are interpolated (column names of the model), never input.
        f"WITH staged AS (DELETE FROM {_STAGING_TABLE} RETURNING {columns}) "  # noqa: S608
        f"INSERT INTO spans ({columns}) SELECT {columns} FROM staged "
        "ON CONFLICT (workspace_id, trace_id, span_id, start_time) DO NOTHING RETURNING trace_id"
    )
    return {trace_id for (trace_id,) in await cursor.fetchall()}


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


async def _insert_spans_portable(session: AsyncSession, rows: list[tuple[Any, ...]]) -> set[str]:
    """Insert the rows not stored yet; the traces they belong to."""
    values = [dict(zip(SPAN_COLUMNS, row, strict=True)) for row in rows]
    statement = sqlite_insert(_SPANS_AS_TEXT).on_conflict_do_nothing().returning(_SPANS_AS_TEXT.c.trace_id)
    return {trace_id for (trace_id,) in await _execute(session, statement, values)}


# ------------------------------------------------------------------------------------------------
# Traces: rolled up in Python (`rollup`) and upserted, one statement per batch


@dataclass(frozen=True, slots=True)
class _Window:
    trace_id: str
    start_time: datetime
    end_time: datetime


_FACTS_OF_ROW = operator.itemgetter(*(SPAN_COLUMNS.index(column) for column in SPAN_FACT_COLUMNS))
_TRACE_ID_OF_ROW = SPAN_COLUMNS.index("trace_id")
_START_OF_ROW = SPAN_COLUMNS.index("start_time")
# What a stored span's roll-up reads, its messages as JSON text (copied through, never parsed).
_STORED_FACTS = tuple(
    sa.cast(SPANS.c[column], sa.Text) if column == "input_messages" else SPANS.c[column]
    for column in SPAN_FACT_COLUMNS
)


async def _roll_up(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    rows: Sequence[tuple[Any, ...]],
    touched: set[str],
    known: Sequence[_Window],
) -> list[TraceRollup]:
    """The traces `touched` (those the batch `rows` added spans to), rolled up; `known`: those of
    them that have a row. A trace with no row yet has no stored span but the batch's (its row is
    written with its first spans), so it is rolled up from the batch alone; a trace that exists is
    rolled up from all its stored spans, read back in this transaction."""
    known_ids = {trace.trace_id for trace in known}
    facts = [
        SpanFacts._make(_FACTS_OF_ROW(row))
        for row in rows
        if row[_TRACE_ID_OF_ROW] in touched and row[_TRACE_ID_OF_ROW] not in known_ids
    ]
    if known:
        facts += await _stored_facts(session, workspace_id, _windows(known, rows))
    return roll_up_traces(facts)


def _windows(known: Iterable[_Window], rows: Sequence[tuple[Any, ...]]) -> list[_Window]:
    """Where the spans of the traces `known` lie now: their stored span times and the batch's."""
    windows = {trace.trace_id: trace for trace in known}
    for row in rows:
        window = windows.get(row[_TRACE_ID_OF_ROW])
        if window is not None:
            start = row[_START_OF_ROW]
            windows[window.trace_id] = _Window(
                window.trace_id, min(window.start_time, start), max(window.end_time, start)
            )
    return list(windows.values())


async def _stored_facts(
    session: AsyncSession, workspace_id: uuid.UUID, windows: Sequence[TraceWindow]
) -> list[SpanFacts]:
    result = await _execute(session, sa.select(*_STORED_FACTS).where(*spans_of_traces(workspace_id, windows)))
    return [SpanFacts._make(row) for row in result]


_LOCK_TRACES = (
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT hashtextextended(%s || t, 0) AS k "
    "FROM json_array_elements_text(%s::json) AS t ORDER BY 1) AS locks"
)
_STORED_TRACES = (
    "SELECT trace_id, start_time, end_time FROM traces "
    "WHERE workspace_id = %s AND trace_id IN (SELECT json_array_elements_text(%s::json))"
)


async def _stored_traces_portable(
    session: AsyncSession, workspace_id: uuid.UUID, trace_ids: list[str]
) -> list[_Window]:
    """The traces among `trace_ids` that have a row, with the time their spans cover (SQLite has
    one writer at a time: nothing to lock)."""
    found = await _execute(
        session,
        sa.select(TRACES.c.trace_id, TRACES.c.start_time, TRACES.c.end_time).where(
            TRACES.c.workspace_id == workspace_id, TRACES.c.trace_id.in_(trace_ids)
        ),
    )
    return [_Window(row.trace_id, as_utc(row.start_time), as_utc(row.end_time)) for row in found]


_TRACE_ROW_COLUMNS = ("workspace_id", *TRACE_ROLLUP_COLUMNS, "created_at", "updated_at")
# Refreshed on conflict: everything derived (the creation time stays, scores are not ours).
_TRACE_UPDATED = [
    column for column in _TRACE_ROW_COLUMNS if column not in {"workspace_id", "trace_id", "created_at"}
]
# PostgreSQL: one statement for the whole batch, its rows as one JSON document (serialised by
# orjson and parsed by the server, both in C: psycopg's array adaptation is Python, element by
# element, and cost more than the upsert itself).
_UPSERT_TRACES_POSTGRES = (
    f"INSERT INTO traces ({', '.join(_TRACE_ROW_COLUMNS)}) "  # noqa: S608 (model constants only)
    f"SELECT {', '.join(_TRACE_ROW_COLUMNS)} FROM json_to_recordset(%s::json) AS rows("
    + ", ".join(f"{column} {_pg_type(TRACES.c[column])}" for column in _TRACE_ROW_COLUMNS)
    + ") ON CONFLICT (workspace_id, trace_id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _TRACE_UPDATED)
)
_MESSAGES_OF_ROW = _TRACE_ROW_COLUMNS.index("input_messages")
# The traces table as the portable upsert sees it: the messages are the JSON text of the span's.
_TRACES_AS_TEXT = sa.Table(
    "traces",
    sa.MetaData(),
    *(
        sa.Column(column, sa.Text() if column == "input_messages" else TRACES.c[column].type)
        for column in _TRACE_ROW_COLUMNS
    ),
    sa.PrimaryKeyConstraint("workspace_id", "trace_id"),
)


def _json_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """A trace row for `json_to_recordset`, its messages' JSON text spliced in as JSON."""
    values = dict(zip(_TRACE_ROW_COLUMNS, row, strict=True))
    messages = row[_MESSAGES_OF_ROW]
    if messages is not None:
        values["input_messages"] = orjson.Fragment(messages)
    return values


async def _upsert_traces_portable(
    session: AsyncSession, workspace_id: uuid.UUID, rollups: Sequence[TraceRollup], now: datetime
) -> None:
    statement = sqlite_insert(_TRACES_AS_TEXT)
    await _execute(
        session,
        statement.on_conflict_do_update(
            index_elements=["workspace_id", "trace_id"],
            set_={column: statement.excluded[column] for column in _TRACE_UPDATED},
        ),
        [dict(zip(_TRACE_ROW_COLUMNS, (workspace_id, *rollup, now, now), strict=True)) for rollup in rollups],
    )


_COUNT_COLUMNS = ("workspace_id", "service_name", "received", "accepted", "rejected", "last_received_at")
# PostgreSQL: the counters' upsert is sent with the traces' (one round trip), its rows as one JSON
# document like theirs.
_ADD_COUNTS_POSTGRES = (
    f"INSERT INTO ingest_stats ({', '.join(_COUNT_COLUMNS)}) "  # noqa: S608 (model constants only)
    f"SELECT {', '.join(_COUNT_COLUMNS)} FROM json_to_recordset(%s::json) AS rows("
    + ", ".join(f"{column} {_pg_type(INGEST_STATS.c[column])}" for column in _COUNT_COLUMNS)
    + ") ON CONFLICT (workspace_id, service_name) DO UPDATE SET "
    "received = ingest_stats.received + excluded.received, "
    "accepted = ingest_stats.accepted + excluded.accepted, "
    "rejected = ingest_stats.rejected + excluded.rejected, "
    "last_received_at = excluded.last_received_at"
)


def _count_rows(
    workspace_id: uuid.UUID, by_service: Mapping[str, ServiceCounts], now: datetime
) -> list[dict[str, Any]]:
    """One counter row per service, in a stable order (concurrent requests lock them alike)."""
    return [
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


async def _add_counts_portable(
    session: AsyncSession, workspace_id: uuid.UUID, by_service: Mapping[str, ServiceCounts], now: datetime
) -> None:
    """Add one request's counts to the workspace's per-service counters (one statement)."""
    counts = _count_rows(workspace_id, by_service, now)
    if not counts:
        return
    statement = sqlite_insert(INGEST_STATS).values(counts)
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
