"""OTLP ingest throughput, end to end: spans/s from HTTP request to rows in PostgreSQL, for protobuf
and OTLP/JSON in batches of 100 and 1,000 spans, against the raw limits of the same machine: the
protobuf parse rate and the PostgreSQL COPY rate for the very same rows.

    uv run python bench/otlp_ingest.py [--spans 20000] [--concurrency 4] [--workers 1] [--write]
    uv run python bench/otlp_ingest.py --compare-workers --workers 2 [--spans 16000] [--repeat 6]
    uv run python bench/otlp_ingest.py --compare-tree DIR [--compare-revision REV] [--json] [--batch 100] [--repeat 6]

A fresh database is created (and dropped), `spectral-otel-ingest` runs as a real uvicorn process on
127.0.0.1, a tenant and one API key per client are made through the API, and every request carries spans of new
traces (nothing is deduplicated away). `--write` records the table in bench/RESULTS.md under
"## OTLP ingest (issues 4 and 16)". Goal (issue 16): end to end >= 50% of the raw COPY rate.

    uv run python bench/otlp_ingest.py --online [--spans 5000] [--online-batch 100] [--write]

compares ingest with an agent's online scoring off and on (ingest process + worker over Redis) and
records "## Ingest with online scoring (issue 12)".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from pydantic import SecretStr
from redis.asyncio import Redis

from harness import (
    JWT_SECRET,
    PG_ADMIN_DSN,
    create_database,
    drop_database,
    free_port,
    machine,
    start_server,
    write_section,
)
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.migrations.runner import downgrade
from spectral.platform.models.pricing import default_catalog
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Environment, Settings
from spectral.platform.traces.otlp import decode_json, decode_protobuf
from spectral.platform.traces.repository import SPAN_COPY_TYPES, span_copy, span_rows
from spectral_api.app import create_app
from spectral_api.state import AppState

SECTION = "## OTLP ingest (issues 4 and 16)"
SPANS_PER_TRACE = 5

QUESTIONS = [
    "Where is my order 4411?",
    "Can I change the delivery address of order 981 to 12 Baker Street?",
    "Why was I charged twice for my subscription this month?",
    "What is your refund policy for opened electronics?",
]


# ------------------------------------------------------------------------------------------------
# Payloads: agent traces as an instrumented app sends them (GenAI conventions, messages in attributes)


def _kv(key: str, value: Any) -> KeyValue:
    any_value = AnyValue()
    if isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    elif isinstance(value, list):
        for item in value:
            any_value.array_value.values.add().string_value = str(item)
    else:
        any_value.string_value = str(value)
    return KeyValue(key=key, value=any_value)


def _trace_spans(rng: random.Random, start_ns: int) -> list[Span]:
    trace_id = secrets.token_bytes(16)
    root_id = secrets.token_bytes(8)
    question = rng.choice(QUESTIONS)
    spans = [
        Span(
            trace_id=trace_id,
            span_id=root_id,
            name="invoke_agent support-bot",
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start_ns,
            end_time_unix_nano=start_ns + 2_400_000_000,
            attributes=[
                _kv("gen_ai.operation.name", "invoke_agent"),
                _kv("gen_ai.agent.name", "support-bot"),
                _kv("input.value", question),
                _kv("output.value", "Your order has shipped and arrives on Thursday."),
                _kv("session.id", f"session-{rng.randrange(10_000)}"),
            ],
            status=Status(code=Status.STATUS_CODE_OK),
        )
    ]
    for index in range(SPANS_PER_TRACE - 1):
        offset = start_ns + (index + 1) * 400_000_000
        if index % 2 == 0:
            messages = json.dumps(
                [
                    {
                        "role": "system",
                        "parts": [{"type": "text", "content": "You are a helpful support agent."}],
                    },
                    {"role": "user", "parts": [{"type": "text", "content": question}]},
                ]
            )
            output = json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": "Let me look that up for you."}],
                        "finish_reason": "stop",
                    }
                ]
            )
            attributes = [
                _kv("gen_ai.operation.name", "chat"),
                _kv("gen_ai.provider.name", "openai"),
                _kv("gen_ai.request.model", "gpt-4o"),
                _kv("gen_ai.response.model", "gpt-4o-2024-08-06"),
                _kv("gen_ai.request.temperature", 0.2),
                _kv("gen_ai.request.max_tokens", 400),
                _kv("gen_ai.usage.input_tokens", rng.randrange(200, 2000)),
                _kv("gen_ai.usage.output_tokens", rng.randrange(20, 300)),
                _kv("gen_ai.response.finish_reasons", ["stop"]),
                _kv("gen_ai.response.id", f"chatcmpl-{secrets.token_hex(8)}"),
                _kv("gen_ai.input.messages", messages),
                _kv("gen_ai.output.messages", output),
                _kv("server.address", "api.openai.com"),
            ]
            name, kind = "chat gpt-4o", Span.SPAN_KIND_CLIENT
        else:
            attributes = [
                _kv("gen_ai.operation.name", "execute_tool"),
                _kv("gen_ai.tool.name", "lookup_order"),
                _kv("gen_ai.tool.call.id", f"call_{secrets.token_hex(6)}"),
                _kv("gen_ai.tool.call.arguments", '{"order_id": 4411}'),
            ]
            name, kind = "execute_tool lookup_order", Span.SPAN_KIND_INTERNAL
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=secrets.token_bytes(8),
                parent_span_id=root_id,
                name=name,
                kind=kind,
                start_time_unix_nano=offset,
                end_time_unix_nano=offset + 350_000_000,
                attributes=attributes,
                status=Status(code=Status.STATUS_CODE_UNSET),
            )
        )
    return spans


def build_request(rng: random.Random, n_spans: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [
            _kv("service.name", "support-bot"),
            _kv("deployment.environment", "bench"),
            _kv("telemetry.sdk.language", "python"),
        ]
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "bench"
    start = time.time_ns()
    while len(scope_spans.spans) < n_spans:
        scope_spans.spans.extend(_trace_spans(rng, start)[: n_spans - len(scope_spans.spans)])
        start += 1_000_000
    return request


_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


def _hex_ids(value: Any) -> Any:
    """OTLP/JSON encodes ids as hex, where the protobuf JSON mapping writes base64."""
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in _ID_FIELDS else _hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value


def to_otlp_json(request: ExportTraceServiceRequest) -> bytes:
    return json.dumps(_hex_ids(MessageToDict(request))).encode()


# ------------------------------------------------------------------------------------------------
# The environment: a fresh database, a tenant with keys, the ingest server as a real process


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(
        env=Environment.TEST,
        data_dir=data_dir,
        database_url=url,
        jwt_secret=SecretStr(JWT_SECRET),
    )


async def make_tenant(settings: Settings, n_keys: int) -> list[str]:
    """A tenant and `n_keys` API keys with write:traces (one per sending agent)."""
    db = Database(settings.resolved_database_url, pool_size=2)
    ctx: dict[str, object] = {"db": db, "settings": settings}
    queue = InProcessQueue(JOB_FUNCTIONS, ctx)
    ctx["queue"] = queue
    app = create_app(settings, state=AppState(settings=settings, db=db, queue=queue))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api:
        registered = await api.post(
            "/api/v1/auth/register",
            json={
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery",
                "tenant_name": "Bench",
            },
        )
        registered.raise_for_status()
        body = registered.json()
        keys: list[str] = []
        for index in range(n_keys):
            created = await api.post(
                f"/api/v1/workspaces/{body['workspace_id']}/keys",
                json={"name": f"agent-{index}", "scopes": ["write:traces"]},
                headers={"Authorization": f"Bearer {body['access_token']}"},
            )
            created.raise_for_status()
            keys.append(created.json()["key"])
    await queue.close()
    await db.dispose()
    return keys


# ------------------------------------------------------------------------------------------------
# Measurements


def end_to_end(port: int, keys: list[str], bodies: list[bytes], content_type: str, concurrency: int) -> float:
    """Seconds to POST every body from `concurrency` clients, client i sending with key i modulo the
    keys (agents with their own keys, or all with one); each answer must be a full success."""
    url = f"http://127.0.0.1:{port}/otel/v1/traces"
    local = threading.local()
    clients = itertools.count()

    def send(body: bytes) -> None:
        client = getattr(local, "client", None)
        if client is None:
            key = keys[next(clients) % len(keys)]
            client = local.client = httpx.Client(
                timeout=120, headers={"Authorization": f"Bearer {key}", "Content-Type": content_type}
            )
        response = client.post(url, content=body)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(send, bodies))
        return time.perf_counter() - started


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (Linux /proc), 0 for processes that are gone."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (the uvicorn workers of a server started with several)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(descendant for child in children for descendant in process_tree(int(child)))]


def backend_pids(dbname: str) -> list[int]:
    """The PostgreSQL backends serving the benchmark database (the ingest server's pool)."""
    with psycopg.connect(PG_ADMIN_DSN) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchall()
    return [int(row[0]) for row in rows]


def parse_rate(bodies: list[bytes], n_spans: int) -> float:
    started = time.perf_counter()
    for body in bodies:
        ExportTraceServiceRequest.FromString(body)
    return len(bodies) * n_spans / (time.perf_counter() - started)


def decode_rate(bodies: list[bytes], n_spans: int, decoder: Any) -> float:
    catalog = default_catalog()
    started = time.perf_counter()
    for body in bodies:
        decoder(body, catalog)
    return len(bodies) * n_spans / (time.perf_counter() - started)


def copy_rate(dbname: str, bodies: list[bytes], workspace_id: uuid.UUID) -> float:
    """Binary COPY of the very rows the ingest path stores (built by its own `span_rows`), into a
    table with `spans`' columns and primary key, one COPY and commit per request's batch."""
    catalog = default_catalog()
    batches = [span_rows(workspace_id, decode_protobuf(body, catalog).spans, {}, utcnow()) for body in bodies]
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{dbname}"
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE bench_copy (LIKE spans INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        for rows in batches:
            with conn.cursor() as cursor, cursor.copy(span_copy(cursor, "bench_copy")) as copy:
                copy.set_types(SPAN_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
            conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return sum(len(rows) for rows in batches) / elapsed


def stored_spans(dbname: str) -> int:
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{dbname}"
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM spans").fetchone()
        return int(row[0]) if row else 0


# ------------------------------------------------------------------------------------------------
# Online scoring on vs off (issue 12)

ONLINE_SECTION = "## Ingest with online scoring (issue 12)"
REDIS_URL = os.environ.get("SPECTRAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ONLINE_RUBRIC = {
    "name": "Support answers",
    "dimensions": [
        {"key": "no_error", "scorer": {"type": "no_error"}},
        {"key": "tools_ok", "scorer": {"type": "tool_success"}},
        {"key": "mentions_order", "scorer": {"type": "contains", "params": {"value": "order"}}},
        {"key": "short", "scorer": {"type": "length", "params": {"max_chars": 400}}},
    ],
}


class Workspace:
    """A tenant with the support-bot agent and an online rubric, changed through the API in-process."""

    def __init__(self, settings: Settings) -> None:
        self.db = Database(settings.resolved_database_url, pool_size=2)
        ctx: dict[str, object] = {"db": self.db, "settings": settings}
        self.queue = InProcessQueue(JOB_FUNCTIONS, ctx)
        ctx["queue"] = self.queue
        app = create_app(settings, state=AppState(settings=settings, db=self.db, queue=self.queue))
        self.api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
        self.ws = self.agent_id = self.rubric_id = ""
        self.headers: dict[str, str] = {}

    async def set_up(self, n_keys: int) -> list[str]:
        registered = await self.api.post(
            "/api/v1/auth/register",
            json={
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery",
                "tenant_name": "Bench",
            },
        )
        registered.raise_for_status()
        body = registered.json()
        self.ws = f"/api/v1/workspaces/{body['workspace_id']}"
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}
        agent = await self.api.post(
            f"{self.ws}/agents", json={"name": "Support bot", "slug": "support-bot"}, headers=self.headers
        )
        agent.raise_for_status()
        self.agent_id = agent.json()["id"]
        rubric = await self.api.post(
            f"{self.ws}/evaluations/rubrics", json=ONLINE_RUBRIC, headers=self.headers
        )
        rubric.raise_for_status()
        self.rubric_id = rubric.json()["id"]
        keys = []
        for index in range(n_keys):
            created = await self.api.post(
                f"{self.ws}/keys",
                json={"name": f"agent-{index}", "scopes": ["write:traces"]},
                headers=self.headers,
            )
            created.raise_for_status()
            keys.append(created.json()["key"])
        return keys

    async def online(self, on: bool) -> None:
        response = await self.api.patch(
            f"{self.ws}/agents/{self.agent_id}",
            json={"online_rubric_id": self.rubric_id if on else None},
            headers=self.headers,
        )
        response.raise_for_status()

    async def close(self) -> None:
        await self.api.aclose()
        await self.queue.close()
        await self.db.dispose()


async def redis_queue_depth(name: str) -> int:
    redis = Redis.from_url(REDIS_URL)
    try:
        return int(await redis.zcard(name))
    finally:
        await redis.aclose()


async def redis_queue_clear(name: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.delete(name)
    finally:
        await redis.aclose()


def scored_traces(dbname: str) -> tuple[int, int]:
    """(traces with an online score, traces) in the benchmark database."""
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{dbname}"
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(score), count(*) FROM traces").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)


def wait_until_scored(dbname: str, expected: int, timeout_s: float = 120) -> float:
    """Seconds until `expected` traces hold a score (the worker draining the queue)."""
    started = time.perf_counter()
    while scored_traces(dbname)[0] < expected:
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError(f"only {scored_traces(dbname)[0]} of {expected} traces scored")
        time.sleep(0.2)
    return time.perf_counter() - started


def online_comparison(args: argparse.Namespace) -> None:
    """Ingest throughput with the agent's online scoring off and on, alternating (best of N each):
    on with the jobs left in Redis (the ingest path's own cost), then with a `spectral-worker`
    scoring beside the ingest process on this one host."""
    rng = random.Random(11)
    dbname, url = create_database()
    data_dir = Path(f"/tmp/{dbname}")
    data_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"bench-{dbname}"
    queue_env = {
        "SPECTRAL_REDIS_URL": REDIS_URL,
        "SPECTRAL_REDIS_KEY_PREFIX": prefix,
        "SPECTRAL_DEFAULT_QUEUE_NAME": f"{prefix}:default",
        "SPECTRAL_SCAN_QUEUE_NAME": f"{prefix}:scans",
    }
    processes: list[subprocess.Popen[bytes]] = []
    workspace = Workspace(settings_for(url, data_dir))
    loop = asyncio.new_event_loop()
    try:
        keys = loop.run_until_complete(workspace.set_up(args.concurrency))
        os.environ.update(queue_env)
        port = free_port()
        processes.append(start_server("spectral_otel_ingest", url, data_dir, port))
        worker_env = {
            **os.environ,
            "SPECTRAL_ENV": "test",
            "SPECTRAL_DATABASE_URL": url,
            "SPECTRAL_JWT_SECRET": JWT_SECRET,
            "SPECTRAL_DATA_DIR": str(data_dir),
            "SPECTRAL_LOG_LEVEL": "WARNING",
        }
        batch = args.online_batch
        n_requests = max(args.spans // batch, 4)
        best = {"off": float("inf"), "on, ingest only": float("inf"), "on, worker beside": float("inf")}

        def measure(mode: str) -> None:
            loop.run_until_complete(workspace.online(mode != "off"))
            bodies = [build_request(rng, batch).SerializeToString() for _ in range(n_requests + 2)]
            end_to_end(port, keys, bodies[:2], "application/x-protobuf", 1)  # warm-up
            elapsed = end_to_end(port, keys, bodies[2:], "application/x-protobuf", args.concurrency)
            best[mode] = min(best[mode], elapsed)

        # Phase 1, no worker: what online scoring costs the ingest path itself (jobs wait in Redis).
        for _ in range(args.repeat):
            measure("off")
            measure("on, ingest only")
        waiting = loop.run_until_complete(redis_queue_depth(queue_env["SPECTRAL_DEFAULT_QUEUE_NAME"]))
        loop.run_until_complete(redis_queue_clear(queue_env["SPECTRAL_DEFAULT_QUEUE_NAME"]))
        # Phase 2, a worker scoring beside ingest on the same CPUs (drained after every "on" run).
        processes.append(
            subprocess.Popen([sys.executable, "-m", "spectral_worker", "--queues", "default"], env=worker_env)
        )
        for _ in range(args.repeat):
            measure("off")
            before = scored_traces(dbname)[0]
            measure("on, worker beside")
            wait_until_scored(dbname, before + (n_requests + 2) * batch // SPANS_PER_TRACE)
        scored, total = scored_traces(dbname)
        rate = {mode: n_requests * batch / elapsed for mode, elapsed in best.items()}
        today = datetime.now(UTC).date().isoformat()
        rows = [
            f"| {mode} | {rate[mode]:,.0f} | {best[mode] / n_requests * 1000:.1f} | "
            + ("" if mode == "off" else f"{rate[mode] / rate['off'] - 1:+.0%}")
            + " |"
            for mode in best
        ]
        text = "\n".join(
            [
                f"Run {today} on {machine()}: `uv run python bench/otlp_ingest.py --online --spans {args.spans} "
                f"--online-batch {batch} --concurrency {args.concurrency} --repeat {args.repeat}` "
                f"(best of {args.repeat} per row, off and on alternating).",
                "",
                f"One `spectral-otel-ingest` process on this host with Redis as its queue, {args.concurrency} "
                f"clients sending protobuf batches of {batch} spans ({SPANS_PER_TRACE}-span agent traces of "
                "`support-bot`). Off: the agent has no online rubric (ingest still asks which of the batch's "
                "traces belong to an agent that scores online: one primary-key read per batch). On: every trace "
                "is sampled (rate 1) for a four-dimension deterministic rubric and ingest enqueues one job per "
                f"batch; first with no worker ({waiting} jobs left waiting: the ingest path alone), then with one "
                "`spectral-worker` scoring beside ingest on the same two CPUs (drained after each run). "
                f"{scored:,} of {total:,} traces scored in the end. Goal: on within 10% of off.",
                "",
                "| online scoring | end to end spans/s | ms / request | vs off |",
                "|---|---|---|---|",
                *rows,
            ]
        )
        print(text)
        if args.write:
            write_section(ONLINE_SECTION, text)
    finally:
        loop.run_until_complete(workspace.close())
        loop.close()
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        drop_database(dbname)
        shutil.rmtree(data_dir, ignore_errors=True)


def workers_comparison(args: argparse.Namespace) -> None:
    """A 1-worker and an N-worker ingest server on one database, side by side: runs of 1,000-span
    protobuf requests alternate between them (the same load for both), the floor between rounds."""
    dbname, url = create_database()
    data_dir = Path(f"/tmp/{dbname}")
    data_dir.mkdir(parents=True, exist_ok=True)
    servers: dict[int, subprocess.Popen[bytes]] = {}
    try:
        keys = asyncio.run(make_tenant(settings_for(url, data_dir), args.concurrency))
        os.environ.setdefault("SPECTRAL_INGEST_SPANS_PER_SECOND", "100000000")
        os.environ.setdefault("SPECTRAL_INGEST_SPAN_BURST", "100000000")
        ports: dict[int, int] = {}
        for workers in (1, args.workers):
            ports[workers] = free_port()
            servers[workers] = start_server(
                "spectral_otel_ingest",
                url,
                data_dir,
                ports[workers],
                env={"SPECTRAL_INGEST_WORKERS": str(workers)},
            )
        rng = random.Random(9)
        n_requests = max(args.spans // 1000, 4)
        rates: dict[str, list[float]] = {"1 worker": [], f"{args.workers} workers": [], "raw COPY": []}
        for round_ in range(args.repeat):
            order = (1, args.workers) if round_ % 2 == 0 else (args.workers, 1)
            for workers in order:
                bodies = [build_request(rng, 1000).SerializeToString() for _ in range(n_requests + 1)]
                end_to_end(ports[workers], keys, bodies[:1], "application/x-protobuf", 1)  # warm-up
                elapsed = end_to_end(
                    ports[workers], keys, bodies[1:], "application/x-protobuf", args.concurrency
                )
                rates["1 worker" if workers == 1 else f"{args.workers} workers"].append(
                    n_requests * 1000 / elapsed
                )
            rates["raw COPY"].append(copy_rate(dbname, bodies[1:], uuid.uuid4()))
        print(
            f"load {os.getloadavg()[0]:.1f}; medians of {args.repeat} (spans/s): "
            + ", ".join(f"{name} {statistics.median(values):,.0f}" for name, values in rates.items())
        )
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=10)
        drop_database(dbname)
        shutil.rmtree(data_dir, ignore_errors=True)


def code_comparison(args: argparse.Namespace) -> None:
    """This tree's ingest server against one running an older tree's code (`--compare-tree`, e.g.
    `git archive <commit> packages apps | tar -x -C DIR`), each on its own database (the older one
    downgraded to `--compare-revision`), runs of `--batch`-span requests alternating, a floor per round."""
    tree = Path(args.compare_tree)
    older_path = os.pathsep.join(
        str(tree / part)
        for part in ("packages/spectral-core/src", "apps/spectral-api/src", "apps/spectral-otel-ingest/src")
    )
    encoding, content_type = (
        ("JSON", "application/json") if args.json else ("protobuf", "application/x-protobuf")
    )
    os.environ.setdefault("SPECTRAL_INGEST_SPANS_PER_SECOND", "100000000")
    os.environ.setdefault("SPECTRAL_INGEST_SPAN_BURST", "100000000")
    sides: dict[str, dict[str, Any]] = {}
    try:
        for name, revision, env in (
            ("before", args.compare_revision, {"PYTHONPATH": older_path}),
            ("after", None, {}),
        ):
            dbname, url = create_database()
            if revision:
                downgrade(url, revision)
            data_dir = Path(f"/tmp/{dbname}")
            data_dir.mkdir(parents=True, exist_ok=True)
            side: dict[str, Any] = {"db": dbname, "dir": data_dir, "rates": [], "server": [], "pg": []}
            sides[name] = side
            side["keys"] = asyncio.run(make_tenant(settings_for(url, data_dir), args.concurrency))
            side["port"] = free_port()
            side["process"] = start_server("spectral_otel_ingest", url, data_dir, side["port"], env=env)
        rng = random.Random(5)
        n_requests = max(args.spans // args.batch, 4)
        floors: list[float] = []
        for round_ in range(args.repeat):
            for name in ("before", "after") if round_ % 2 == 0 else ("after", "before"):
                side = sides[name]
                requests = [build_request(rng, args.batch) for _ in range(n_requests + 1)]
                bodies = [
                    to_otlp_json(request) if args.json else request.SerializeToString()
                    for request in requests
                ]
                end_to_end(side["port"], side["keys"], bodies[:1], content_type, 1)  # warm-up
                pids, backends = process_tree(side["process"].pid), backend_pids(side["db"])
                server_cpu, pg_cpu = cpu_seconds(pids), cpu_seconds(backends)
                elapsed = end_to_end(side["port"], side["keys"], bodies[1:], content_type, args.concurrency)
                spans = n_requests * args.batch
                side["rates"].append(spans / elapsed)
                side["server"].append((cpu_seconds(pids) - server_cpu) / spans * 1e6)
                side["pg"].append((cpu_seconds(backends) - pg_cpu) / spans * 1e6)
            floors.append(
                copy_rate(sides["after"]["db"], [r.SerializeToString() for r in requests[1:]], uuid.uuid4())
            )
        floor = statistics.median(floors)
        print(
            f"load {os.getloadavg()[0]:.1f}; {encoding}, {args.batch}-span requests; medians of {args.repeat}; "
            f"raw COPY {floor:,.0f} rows/s"
        )
        for name, side in sides.items():
            rate = statistics.median(side["rates"])
            print(
                f"{name}: {rate:,.0f} spans/s ({rate / floor:.0%} of COPY), server CPU "
                f"{statistics.median(side['server']):.1f} µs/span, PostgreSQL CPU {statistics.median(side['pg']):.1f} µs/span"
            )
    finally:
        for side in sides.values():
            if "process" in side:
                side["process"].terminate()
                side["process"].wait(timeout=10)
            drop_database(side["db"])
            shutil.rmtree(side["dir"], ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000, help="spans per measurement")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--repeat", type=int, default=3, help="best of N runs per figure (the host may be shared and noisy)"
    )
    parser.add_argument(
        "--one-key",
        action="store_true",
        help="every client sends with the same API key (default: a key each)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes of the ingest service (SPECTRAL_INGEST_WORKERS)"
    )
    parser.add_argument(
        "--compare-workers",
        action="store_true",
        help="only 1 worker vs --workers side by side (1,000-span protobuf), runs alternating",
    )
    parser.add_argument(
        "--compare-tree", help="only this code against an older tree's (a `git archive` of packages and apps)"
    )
    parser.add_argument(
        "--compare-revision",
        help="the migration the older tree's database is downgraded to (with --compare-tree)",
    )
    parser.add_argument("--json", action="store_true", help="OTLP/JSON bodies (with --compare-tree)")
    parser.add_argument("--batch", type=int, default=1000, help="spans per request (with --compare-tree)")
    parser.add_argument("--write", action="store_true", help="record the results in bench/RESULTS.md")
    parser.add_argument(
        "--online", action="store_true", help="only ingest with online scoring off vs on (issue 12's section)"
    )
    parser.add_argument("--online-batch", type=int, default=100, help="spans per request of --online")
    args = parser.parse_args()
    if args.online:
        online_comparison(args)
        return
    if args.compare_workers:
        workers_comparison(args)
        return
    if args.compare_tree:
        code_comparison(args)
        return

    rng = random.Random(7)
    dbname, url = create_database()
    data_dir = Path(f"/tmp/{dbname}")
    data_dir.mkdir(parents=True, exist_ok=True)
    server: subprocess.Popen[bytes] | None = None
    try:
        keys = asyncio.run(make_tenant(settings_for(url, data_dir), args.concurrency))
        shared_key = keys[:1] if args.one_key else keys
        port = free_port()
        # This measures the write path's throughput, not the per-workspace span quota.
        os.environ.setdefault("SPECTRAL_INGEST_SPANS_PER_SECOND", "100000000")
        os.environ.setdefault("SPECTRAL_INGEST_SPAN_BURST", "100000000")
        server = start_server(
            "spectral_otel_ingest", url, data_dir, port, env={"SPECTRAL_INGEST_WORKERS": str(args.workers)}
        )
        server_pids = process_tree(server.pid)
        lines = [
            "| batch | encoding | end to end spans/s | ms / request | server CPU µs/span | PostgreSQL CPU µs/span "
            "| raw parse spans/s | decode+normalise spans/s | raw COPY rows/s | e2e / COPY |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        stored_before = stored_spans(dbname)
        total_sent = 0
        for batch in (100, 1000):
            n_requests = max(args.spans // batch, 4)
            requests = [build_request(rng, batch) for _ in range(n_requests + 2)]
            protobuf = [request.SerializeToString() for request in requests]
            raw_parse = max(parse_rate(protobuf, batch) for _ in range(args.repeat))
            for encoding, bodies, content_type, decoder in (
                ("protobuf", protobuf, "application/x-protobuf", decode_protobuf),
                ("JSON", [to_otlp_json(request) for request in requests], "application/json", decode_json),
            ):
                normalise = max(decode_rate(bodies[:n_requests], batch, decoder) for _ in range(args.repeat))
                elapsed = float("inf")
                server_us = pg_us = 0.0
                runs: list[float] = []
                floors: list[float] = []
                for _ in range(args.repeat):
                    # Fresh traces for every run: stored spans are never re-sent (no idempotent shortcut).
                    fresh = [build_request(rng, batch) for _ in range(n_requests + 2)]
                    fresh_bodies = (
                        [r.SerializeToString() for r in fresh]
                        if encoding == "protobuf"
                        else [to_otlp_json(r) for r in fresh]
                    )
                    # The floor, interleaved with the runs: the same rows (as the project builds them).
                    floors.append(copy_rate(dbname, [r.SerializeToString() for r in fresh[2:]], uuid.uuid4()))
                    end_to_end(port, shared_key, fresh_bodies[:2], content_type, 1)  # warm-up
                    backends = backend_pids(dbname)
                    server_cpu, pg_cpu = cpu_seconds(server_pids), cpu_seconds(backends)
                    run = end_to_end(port, shared_key, fresh_bodies[2:], content_type, args.concurrency)
                    runs.append(n_requests * batch / run)
                    if run < elapsed:
                        elapsed = run
                        spans_sent = n_requests * batch
                        server_us = (cpu_seconds(server_pids) - server_cpu) / spans_sent * 1e6
                        pg_us = (cpu_seconds(backends) - pg_cpu) / spans_sent * 1e6
                    total_sent += batch * (n_requests + 2)
                rate, copy = statistics.median(runs), statistics.median(floors)
                lines.append(
                    f"| {batch} | {encoding} | {rate:,.0f} | {n_requests * batch / rate / n_requests * 1000:.1f} | "
                    f"{server_us:.0f} | {pg_us:.0f} | {raw_parse:,.0f} | "
                    f"{normalise:,.0f} | {copy:,.0f} | {rate / copy:.0%} |"
                )
                print(lines[-1], flush=True)
        stored = stored_spans(dbname) - stored_before
        assert stored == total_sent, (stored, total_sent)
        today = datetime.now(UTC).date().isoformat()
        text = "\n".join(
            [
                f"Run {today} on {machine()}: `uv run python bench/otlp_ingest.py --spans {args.spans} "
                f"--concurrency {args.concurrency} --repeat {args.repeat} --workers {args.workers}"
                f"{' --one-key' if args.one_key else ''}` "
                f"(medians of {args.repeat} runs, each next to a run of its floor).",
                "",
                f"`spectral-otel-ingest` on 127.0.0.1 with {args.workers} uvicorn worker process"
                f"{'es' if args.workers > 1 else ''}, {args.concurrency} concurrent clients "
                f"({'sharing one API key' if args.one_key else 'each with its own API key, as separate agents'}), "
                f"agent traces of {SPANS_PER_TRACE} spans (GenAI conventions, messages in attributes), new trace ids in "
                "every request. End to end = HTTP request to rows committed in PostgreSQL (auth, body read, decode, "
                "normalise, price, COPY into `spans`, traces rolled up and upserted, stats, commit); "
                f"{stored:,} spans stored and counted. Raw parse = `ExportTraceServiceRequest.FromString` alone; "
                "raw COPY = the same rows, built by the project's own `span_rows`, binary-COPYed (psycopg, one COPY "
                "and commit per request's batch) into a table with `spans`' columns and primary key, measured "
                "just before each end-to-end run. Server / PostgreSQL CPU = CPU time of the ingest processes / of "
                "its database client backends per span during the fastest run (autovacuum excluded). Goal "
                "(issue 16): end to end >= 50% of raw binary COPY.",
                "",
                *lines,
            ]
        )
        print(text)
        if args.write:
            write_section(SECTION, text)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        drop_database(dbname)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
