"""Read plans of the trace read paths on a large, partitioned `spans` table.

    uv run python bench/span_partitions.py [--spans 10000000] [--days 30] [--workspaces 4] [--write]

A fresh database is migrated to head, the worker's partition job makes a partition for each of
`--days` days, and `--spans` spans (5-span agent traces spread evenly over those days and over
`--workspaces` workspaces, with their trace rows) are generated inside PostgreSQL. Then the read paths
run through the platform's own code — the trace list of a workspace over the last day, a trace's
detail, the dashboard's and supervisor's stats, a scan's window of an agent's traces with their
spans — and every SQL statement they send is shown with `EXPLAIN (ANALYZE)`, together with the
ingest's read of the stored spans of traces it rolls up. What to look for: the span reads touch only the partitions of the days
asked for ("Subplans Removed" or "(never executed)" for the others). `--write` records the summary
under "## Span partitions: read plans (issue 16)" in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from harness import PG_ADMIN_DSN, create_database, drop_database, machine, write_section
from spectral.platform.shared.db import Database
from spectral.platform.shared.pagination import PageParams
from spectral.platform.traces import queries, repository
from spectral.platform.traces.partitions import ensure_span_partitions, span_partition_days
from spectral.platform.traces.repository import TraceFilter

SECTION = "## Span partitions: read plans (issue 16)"
SPANS_PER_TRACE = 5
CHUNK_TRACES = 200_000

# One statement per chunk of traces: spans and traces of traces [lo, hi) generated in the server.
# Trace g of the run starts `days * g / n` days before `now` (evenly spread, ingest order), belongs to
# workspace g % workspaces and to agent "agent-(g % 3)", and has a root agent span and four children
# (llm and tool, alternating).
_SPANS = """
INSERT INTO spans (workspace_id, trace_id, span_id, parent_span_id, name, kind, span_kind, service_name,
  scope_name, start_time, end_time, duration_ms, status, cost_estimated, model, provider, input_tokens,
  output_tokens, total_tokens, cost_usd, agent_key, agent_source, input_text, output_text, attributes,
  resource_attributes, received_at)
SELECT (%(workspaces)s::uuid[])[1 + g %% %(n_ws)s], lpad(to_hex(g), 32, '0'), lpad(to_hex(g * 8 + s), 16, '0'),
  CASE WHEN s = 0 THEN NULL ELSE lpad(to_hex(g * 8), 16, '0') END,
  CASE WHEN s = 0 THEN 'invoke_agent' WHEN s %% 2 = 1 THEN 'chat gpt-4o' ELSE 'execute_tool lookup_order' END,
  CASE WHEN s = 0 THEN 'agent' WHEN s %% 2 = 1 THEN 'llm' ELSE 'tool' END,
  'internal', 'support-bot', 'bench',
  t0 + s * interval '400 ms', t0 + s * interval '400 ms' + interval '350 ms', 350,
  CASE WHEN g %% 50 = 0 AND s = 3 THEN 'error' ELSE 'ok' END, s %% 2 = 1,
  CASE WHEN s %% 2 = 1 THEN 'gpt-4o' END, CASE WHEN s %% 2 = 1 THEN 'openai' END,
  CASE WHEN s %% 2 = 1 THEN 900 END, CASE WHEN s %% 2 = 1 THEN 120 END, CASE WHEN s %% 2 = 1 THEN 1020 END,
  CASE WHEN s %% 2 = 1 THEN 0.0035 END,
  CASE WHEN s = 0 THEN 'agent-' || (g %% 3) END, CASE WHEN s = 0 THEN 1 END,
  CASE WHEN s <= 1 THEN 'Where is my order ' || g || '?' END,
  CASE WHEN s <= 1 THEN 'Your order has shipped.' END,
  '{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}'::jsonb,
  '{"service.name": "support-bot"}'::jsonb, t0
FROM (SELECT g, %(now)s - (%(days)s * interval '1 day') * g / %(n)s AS t0
      FROM generate_series(%(lo)s, %(hi)s - 1) AS g) AS t
CROSS JOIN generate_series(0, 4) AS s
"""
_TRACES = """
INSERT INTO traces (workspace_id, trace_id, root_span_id, name, agent_key, service_name, start_time, end_time,
  duration_ms, span_count, error_count, status, model, input_text, output_text, input_tokens, output_tokens,
  total_tokens, cost_usd, created_at, updated_at)
SELECT (%(workspaces)s::uuid[])[1 + g %% %(n_ws)s], lpad(to_hex(g), 32, '0'), lpad(to_hex(g * 8), 16, '0'),
  'invoke_agent', 'agent-' || (g %% 3), 'support-bot', t0, t0 + interval '1950 ms', 1950, 5,
  CASE WHEN g %% 50 = 0 THEN 1 ELSE 0 END, CASE WHEN g %% 50 = 0 THEN 'error' ELSE 'ok' END, 'gpt-4o',
  'Where is my order ' || g || '?', 'Your order has shipped.', 1800, 240, 2040, 0.007, t0, t0
FROM (SELECT g, %(now)s - (%(days)s * interval '1 day') * g / %(n)s AS t0
      FROM generate_series(%(lo)s, %(hi)s - 1) AS g) AS t
"""


def dsn_of(dbname: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{dbname}"


def load(dbname: str, n_traces: int, days: int, workspaces: list[uuid.UUID], now: datetime) -> float:
    """Generate the spans and traces; seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(dsn_of(dbname)) as conn:
        account = uuid.uuid4()
        conn.execute(
            "INSERT INTO accounts (id, name, is_operations, created_at, updated_at) "
            "VALUES (%s, 'bench', false, now(), now())",
            (account,),
        )
        for index, workspace in enumerate(workspaces):
            conn.execute(
                "INSERT INTO workspaces (id, account_id, name, created_at, updated_at) "
                "VALUES (%s, %s, %s, now(), now())",
                (workspace, account, f"bench-{index}"),
            )
        conn.commit()
        for lo in range(0, n_traces, CHUNK_TRACES):
            parameters = {
                "workspaces": workspaces,
                "n_ws": len(workspaces),
                "now": now,
                "days": days,
                "n": n_traces,
                "lo": lo,
                "hi": min(lo + CHUNK_TRACES, n_traces),
            }
            conn.execute(_SPANS, parameters)
            conn.execute(_TRACES, parameters)
            conn.commit()
            done = parameters["hi"]
            print(f"  {done * SPANS_PER_TRACE:,} spans ({time.perf_counter() - started:.0f} s)", flush=True)
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE spans")
        conn.execute("VACUUM ANALYZE traces")
    return time.perf_counter() - started


class Statements:
    """Every statement the platform's code sends, with its parameters, while `recording`."""

    def __init__(self, db: Database) -> None:
        self.recorded: list[tuple[str, Any]] = []
        self.recording = False

        @sa.event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def record(
            _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
        ) -> None:
            if self.recording:
                self.recorded.append((statement, parameters))


async def explain(session: AsyncSession, statement: str, parameters: Any) -> list[str]:
    connection = await session.connection()
    result = await connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) {statement}", parameters
    )
    return [str(row[0]) for row in result]


def partitions_read(plan: list[str]) -> tuple[int, int]:
    """(span partitions the plan scans and executes, span partitions it names at all)."""
    named = [line for line in plan if re.search(r"on spans_(\d{8}|default)", line)]
    executed = [line for line in named if "never executed" not in line]
    return len(executed), len(named)


def plan_ms(plan: list[str], phase: str) -> float:
    """The plan's "Planning Time" or "Execution Time" in ms."""
    for line in plan:
        match = re.search(rf"{phase} Time: ([\d.]+) ms", line)
        if match:
            return float(match.group(1))
    return 0.0


async def read_paths(url: str, workspace: uuid.UUID, now: datetime) -> list[tuple[str, list[str]]]:
    db = Database(url, pool_size=2)
    statements = Statements(db)

    async def trace_list(session: AsyncSession) -> Any:
        filters = TraceFilter(start=now - timedelta(days=1), end=now)
        return await repository.list_traces(session, workspace, filters, PageParams(limit=50, offset=0))

    async def trace_detail(session: AsyncSession) -> Any:
        listed, _ = await repository.list_traces(
            session,
            workspace,
            TraceFilter(start=now - timedelta(days=3), end=now),
            PageParams(limit=1, offset=0),
        )
        statements.recorded.clear()
        trace = await repository.get_trace(session, workspace, listed[0].trace_id)
        assert trace is not None
        return await repository.spans_of(session, workspace, [trace])

    async def stats(session: AsyncSession) -> Any:
        await repository.activity_by_agent(session, workspace, since=now - timedelta(days=1))
        return await repository.model_usage(session, workspace, since=now - timedelta(days=7))

    async def scan_window(session: AsyncSession) -> Any:
        return await queries.load_engine_traces(
            session, workspace, agent_slug="agent-1", start=now - timedelta(days=2), end=now, limit=1000
        )

    paths: list[tuple[str, Callable[[AsyncSession], Awaitable[Any]]]] = [
        ("trace list (workspace, last day, first page)", trace_list),
        ("trace detail (trace + its spans)", trace_detail),
        ("stats (activity by agent, last day; model usage, last week)", stats),
        ("scan window (an agent's traces over two days with their spans)", scan_window),
    ]
    plans: list[tuple[str, list[str]]] = []
    try:
        async with db.session() as session:
            for name, path in paths:
                statements.recorded.clear()
                statements.recording = True
                await path(session)
                statements.recording = False
                for statement, parameters in list(statements.recorded):
                    if statement.lstrip().upper().startswith("SELECT"):
                        plans.append((name, [statement, *await explain(session, statement, parameters)]))
            # The ingest's roll-up of 200 of today's traces that have a row already: their stored
            # spans, read within the traces' windows (rolled back).
            connection = await session.connection()
            touched = list(
                await connection.execute(
                    sa.text(
                        "SELECT trace_id, start_time, end_time FROM traces WHERE workspace_id = :ws "
                        "AND start_time >= :since ORDER BY start_time DESC LIMIT 200"
                    ),
                    {"ws": workspace, "since": now - timedelta(days=1)},
                )
            )
            statements.recorded.clear()
            statements.recording = True
            await repository._stored_facts(session, workspace, touched)
            statements.recording = False
            for statement, parameters in list(statements.recorded):
                plans.append(
                    (
                        "ingest: stored spans of 200 traces rolled up",
                        [statement, *await explain(session, statement, parameters)],
                    )
                )
            await session.rollback()
    finally:
        await db.dispose()
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workspaces", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--write", action="store_true", help="record the summary in bench/RESULTS.md")
    parser.add_argument("--plans", type=Path, help="also write every full plan to this file")
    args = parser.parse_args()

    now = datetime.now(UTC)
    dbname, url = create_database()
    print(f"database {dbname}", flush=True)
    try:
        db = Database(url, pool_size=1)

        async def partitions() -> int:
            async with db.session() as session:
                for back in range(args.days, -1, -1):
                    await ensure_span_partitions(session, (now - timedelta(days=back)).date(), ahead_days=0)
                count = len(await span_partition_days(session))
            await db.dispose()
            return count

        n_partitions = asyncio.run(partitions())
        workspaces = [uuid.uuid4() for _ in range(args.workspaces)]
        n_traces = args.spans // SPANS_PER_TRACE
        load_s = load(dbname, n_traces, args.days, workspaces, now)
        with psycopg.connect(dsn_of(dbname)) as conn:
            row = conn.execute(
                "SELECT count(*), pg_size_pretty(pg_total_relation_size('spans') + "
                "(SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'spans'::regclass)) "
                "FROM spans"
            ).fetchone()
        assert row is not None
        n_spans, size = int(row[0]), str(row[1])
        plans = asyncio.run(read_paths(url, workspaces[0], now))

        lines = [
            "| read path | statement | span partitions executed / in plan | planning ms | execution ms |",
            "|---|---|---|---|---|",
        ]
        full: list[str] = []
        for name, (statement, *plan) in plans:
            executed, named = partitions_read(plan)
            touched = f"{executed} / {named}" if named else "— (traces only)"
            first = " ".join(statement.split())[:70].replace("|", "\\|")
            lines.append(
                f"| {name} | `{first}…` | {touched} | {plan_ms(plan, 'Planning'):.1f} | "
                f"{plan_ms(plan, 'Execution'):.1f} |"
            )
            full.extend([f"-- {name}", statement.strip(), *plan, ""])
        today = datetime.now(UTC).date().isoformat()
        text = "\n".join(
            [
                f"Run {today} on {machine()}: `uv run python bench/span_partitions.py --spans {args.spans} "
                f"--days {args.days} --workspaces {args.workspaces}`.",
                "",
                f"{n_spans:,} spans ({n_traces:,} five-span traces) over {args.days} days and {args.workspaces} "
                f"workspaces in {n_partitions} daily partitions ({size} with indexes), generated in PostgreSQL "
                f"in {load_s:.0f} s. Each read path ran through the platform's own code on the first workspace; "
                "each SELECT it sent is shown with EXPLAIN ANALYZE (`--plans FILE` writes them whole). "
                '"Executed / in plan": span partitions the statement read, of those its plan names '
                "(the rest pruned at run time, shown as never executed; partitions pruned when planning do "
                "not appear at all).",
                "",
                *lines,
            ]
        )
        print("\n".join(full))
        print(text)
        if args.plans:
            args.plans.write_text("\n".join(full))
        if args.write:
            write_section(SECTION, text)
    finally:
        if not args.keep:
            drop_database(dbname)


if __name__ == "__main__":
    main()
