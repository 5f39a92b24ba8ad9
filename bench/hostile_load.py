"""Hostile load: a fleet of agents sending OTLP at the workspace's default ingest quota and reading
their config, while another tenant posts hostile rubrics, hostile traces and oversized bodies —
against production mode on loopback: one `spectral-api` process and one `spectral-otel-ingest`
process (OTLP goes to the ingest process, as deployed), on PostgreSQL + Redis.

    uv run python bench/hostile_load.py [--seconds 20] [--agents 20] [--write]

What it checks (issue 10): `GET /api/v1/health` keeps answering fast (p99 under 100 ms is the bar)
and no span the server accepted is lost (spans stored = spans acknowledged). Every loop is bounded
in time and stops by itself; nothing leaves 127.0.0.1. The server keeps its default limits (rate
limits, quotas, body sizes): the fleet paces itself to a share of the default quota and, like an
OTLP exporter, honours 429/503 `Retry-After` and re-sends the same batch.

The hostile tenant, in a loop: a rubric whose regex backtracks catastrophically on a backtracking
engine (refused 422 when the pattern engine cannot compile it; scored in linear time otherwise),
its rubric suggestions over traces built to make such a pattern explode, spans with attributes nested
far beyond the stored-depth bound, 64 MiB bodies (one announced by Content-Length, one chunked)
to an unauthenticated route, and a 64 MiB chunked body with an unknown API key to a protected route. `--write` records the table in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from harness import (
    PG_ADMIN_DSN,
    create_database,
    drop_database,
    free_port,
    machine,
    start_server,
    write_section,
)
from otlp_ingest import build_request, to_otlp_json
from spectral.platform.shared.settings import Settings

SECTION = "## Hostile load (issue 10)"
REDIS_URL = os.environ.get("SPECTRAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BATCH_SPANS = 100
CATASTROPHIC = "^(a+)+$"
# Fails both patterns below only after exponentially many steps on a backtracking engine.
EXPLOSIVE = "a" * 40 + "!"
HUGE_BODY = 64 * 1024 * 1024
GRACE_S = 15.0


def default_quota() -> tuple[float, float]:
    """The workspace ingest quota a server starts with: (spans per second, burst)."""
    defaults = Settings.model_fields
    return (
        float(defaults["ingest_spans_per_second"].default),
        float(defaults["ingest_span_burst"].default),
    )


# ------------------------------------------------------------------------------------------------
# Tenants


@dataclass
class Tenant:
    workspace_id: str
    user: dict[str, str]
    agent_id: str
    key: dict[str, str]

    @property
    def ws(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}"


async def make_tenant(api: httpx.AsyncClient, name: str) -> Tenant:
    registered = await api.post(
        "/api/v1/auth/register",
        json={
            "email": f"{name}-{uuid.uuid4().hex[:8]}@example.com",
            "password": "correct horse battery staple",
            "tenant_name": name,
        },
    )
    registered.raise_for_status()
    body = registered.json()
    ws = f"/api/v1/workspaces/{body['workspace_id']}"
    user = {"Authorization": f"Bearer {body['access_token']}"}
    agent = await api.post(
        f"{ws}/agents",
        json={"name": "Support", "slug": "support-bot", "config": {"model": "gpt-4o", "params": {}}},
        headers=user,
    )
    agent.raise_for_status()
    key = await api.post(
        f"{ws}/keys", json={"name": "fleet", "scopes": ["write:traces", "read:agents"]}, headers=user
    )
    key.raise_for_status()
    return Tenant(
        body["workspace_id"], user, agent.json()["id"], {"Authorization": f"Bearer {key.json()['key']}"}
    )


# ------------------------------------------------------------------------------------------------
# Load


@dataclass
class Tally:
    sent_spans: int = 0
    accepted_spans: int = 0
    rejected_spans: int = 0
    throttled: int = 0
    config_reads: int = 0
    config_limited: int = 0
    config_errors: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    health_ms: list[float] = field(default_factory=list)
    health_failures: int = 0
    cut_off: int = 0


def retry_after(response: httpx.Response) -> float:
    try:
        return max(0.05, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


async def agent(
    api: httpx.AsyncClient,
    ingest: httpx.AsyncClient,
    tenant: Tenant,
    rng: random.Random,
    interval: float,
    until: float,
    tally: Tally,
) -> None:
    """One agent process: a batch every `interval` seconds (re-sent after 429/503), config once a
    second."""
    next_config = time.monotonic()
    await asyncio.sleep(rng.uniform(0, interval))
    while time.monotonic() < until:
        started = time.monotonic()
        body = build_request(rng, BATCH_SPANS).SerializeToString()
        tally.sent_spans += BATCH_SPANS
        while time.monotonic() < until:
            response = await ingest.post(
                "/otel/v1/traces",
                content=body,
                headers={**tenant.key, "Content-Type": "application/x-protobuf"},
            )
            if response.status_code in (429, 503):
                tally.throttled += 1
                await asyncio.sleep(retry_after(response))
                continue
            if response.status_code != 200:
                raise RuntimeError(f"fleet ingest answered {response.status_code}: {response.text[:200]}")
            result = ExportTraceServiceResponse.FromString(response.content)
            tally.rejected_spans += result.partial_success.rejected_spans
            tally.accepted_spans += BATCH_SPANS - result.partial_success.rejected_spans
            break
        if time.monotonic() >= next_config:
            config = await api.get(f"{tenant.ws}/agents/{tenant.agent_id}/config", headers=tenant.key)
            tally.config_reads += 1
            tally.config_limited += config.status_code == 429
            tally.config_errors += config.status_code not in (200, 429)
            next_config += 1.0
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "bottom"}
    for level in range(depth):
        value = {"kvlistValue": {"values": [{"key": f"level{level}", "value": value}]}}
    return value


def hostile_spans(rng: random.Random) -> bytes:
    """OTLP/JSON spans whose output makes `CATASTROPHIC` backtrack, each with an attribute nested 200
    deep (JSON: a protobuf body could not nest that far, its parser stops at depth 100)."""
    request: ExportTraceServiceRequest = build_request(rng, 10)
    for span in request.resource_spans[0].scope_spans[0].spans:
        # Suggestions score the failed traces (errors, negative feedback) the rubric misses.
        span.status.code = Status.STATUS_CODE_ERROR
        for attribute in span.attributes:
            if attribute.key == "output.value":
                attribute.value.string_value = EXPLOSIVE
            elif attribute.key == "gen_ai.output.messages":
                attribute.value.string_value = json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": EXPLOSIVE}],
                            "finish_reason": "stop",
                        }
                    ]
                )
    body = json.loads(to_otlp_json(request))
    for span in body["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        span["attributes"].append({"key": "app.deep", "value": _nested(200)})
    return json.dumps(body).encode()


async def _chunks(total: int) -> AsyncIterator[bytes]:
    chunk = b"{" + b" " * (1024 * 1024 - 1)
    for _ in range(total // len(chunk)):
        yield chunk


async def announced_oversize(port: int) -> str:
    """Announce a 64 MiB body by Content-Length and send none of it: the answer must not wait for it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {HUGE_BODY}\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        return status_line.split()[1].decode() if status_line else "closed"
    except TimeoutError:
        return "no answer within 5 s"
    finally:
        writer.close()


async def hostile(
    api: httpx.AsyncClient,
    ingest: httpx.AsyncClient,
    port: int,
    tenant: Tenant,
    rng: random.Random,
    until: float,
    tally: Tally,
) -> None:
    rubric: dict[str, Any] = {
        "name": "Hostile",
        "agent_id": tenant.agent_id,
        "dimensions": [
            {
                "key": "boom",
                "weight": 1,
                "threshold": 1,
                "scorer": {"type": "regex", "params": {"pattern": CATASTROPHIC}},
            }
        ],
    }
    for round_ in itertools.count():
        if time.monotonic() >= until:
            break
        rubric["name"] = f"Hostile {round_}"
        created = await api.post(f"{tenant.ws}/evaluations/rubrics", json=rubric, headers=tenant.user)
        tally.statuses[f"catastrophic rubric {created.status_code}"] += 1
        linear = {
            **rubric,
            "name": f"Alternation {round_}",
            "dimensions": [
                {**rubric["dimensions"][0], "scorer": {"type": "regex", "params": {"pattern": "^(a|aa)*$"}}}
            ],
        }
        saved = await api.post(f"{tenant.ws}/evaluations/rubrics", json=linear, headers=tenant.user)
        tally.statuses[f"nested-alternation rubric {saved.status_code}"] += 1
        spans = await ingest.post(
            "/otel/v1/traces",
            content=hostile_spans(rng),
            headers={**tenant.key, "Content-Type": "application/json"},
        )
        rejected = (
            spans.json().get("partialSuccess", {}).get("rejectedSpans", 0) if spans.status_code == 200 else 0
        )
        tally.statuses[f"deep-attribute spans {spans.status_code}, {rejected} of 10 rejected"] += 1
        for response in (created, saved):
            if response.status_code == 201:
                suggestions = await api.get(
                    f"{tenant.ws}/evaluations/rubrics/{response.json()['id']}/suggestions",
                    headers=tenant.user,
                )
                tally.statuses[f"suggestions {suggestions.status_code}"] += 1
        tally.statuses[f"64 MiB announced body {await announced_oversize(port)}"] += 1
        try:
            chunked = await api.post(
                "/api/v1/auth/register",
                content=_chunks(HUGE_BODY),
                headers={"Content-Type": "application/json"},
            )
            tally.statuses[f"64 MiB chunked body {chunked.status_code}"] += 1
        except httpx.HTTPError as exc:
            # A server that answers 413 and closes while the client is still sending is the goal.
            tally.statuses[f"64 MiB chunked body: connection closed ({type(exc).__name__})"] += 1
        try:
            forged = await api.post(
                f"{tenant.ws}/agents",
                content=_chunks(HUGE_BODY),
                headers={"Authorization": "Bearer sk_live_" + "0" * 40, "Content-Type": "application/json"},
            )
            tally.statuses[f"64 MiB chunked body, unknown API key {forged.status_code}"] += 1
        except httpx.HTTPError as exc:
            tally.statuses[
                f"64 MiB chunked body, unknown API key: connection closed ({type(exc).__name__})"
            ] += 1


def probe_health(base: str, seconds: float) -> tuple[list[float], int]:
    """Health latencies (ms) and failures over `seconds`. Runs in a process of its own: on the
    load generator's event loop (busy building protobuf batches) it would time the client too."""
    latencies: list[float] = []
    failures = 0
    until = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=5) as prober:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                response = prober.get("/api/v1/health")
                if response.status_code == 200:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failures += 1
            except httpx.HTTPError:
                failures += 1
            time.sleep(0.05)
    return latencies, failures


def stored_spans(dbname: str, workspace_id: str) -> int:
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{dbname}"
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM spans WHERE workspace_id = %s", (uuid.UUID(workspace_id),)
        ).fetchone()
    return int(row[0]) if row else 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


async def run(port: int, ingest_port: int, args: argparse.Namespace, quota: float) -> tuple[Tally, Tenant]:
    base = f"http://127.0.0.1:{port}"
    ingest_base = f"http://127.0.0.1:{ingest_port}"
    limits = httpx.Limits(max_connections=args.agents + 8)
    async with (
        httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as api,
        httpx.AsyncClient(base_url=ingest_base, timeout=30, limits=limits) as ingest,
        httpx.AsyncClient(base_url=base, timeout=120) as attacker,
        httpx.AsyncClient(base_url=ingest_base, timeout=120) as attacker_ingest,
    ):
        fleet, enemy = await make_tenant(api, "Fleet"), await make_tenant(attacker, "Hostile")
        tally = Tally()
        until = time.monotonic() + args.seconds
        interval = BATCH_SPANS * args.agents / (quota * args.quota_share)
        probes = ProcessPoolExecutor(max_workers=1)
        probe = asyncio.get_running_loop().run_in_executor(probes, probe_health, base, args.seconds)
        tasks = [
            asyncio.create_task(
                hostile(attacker, attacker_ingest, port, enemy, random.Random(99), until, tally)
            ),
            *(
                asyncio.create_task(agent(api, ingest, fleet, random.Random(index), interval, until, tally))
                for index in range(args.agents)
            ),
        ]
        # Bounded whatever the server does: a request still hanging this long after the end is cut.
        _, pending = await asyncio.wait(tasks, timeout=args.seconds + GRACE_S)
        for task in pending:
            task.cancel()
        tally.cut_off = len(pending)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        tally.health_ms, tally.health_failures = await probe
        probes.shutdown()
    return tally, fleet


def _load(averages: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.1f}" for value in averages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument(
        "--quota-share", type=float, default=0.8, help="share of the default quota the fleet sends"
    )
    parser.add_argument(
        "--quota", type=float, help="spans/s the fleet is paced against (default: the server's)"
    )
    parser.add_argument("--write", action="store_true", help="record the results in bench/RESULTS.md")
    args = parser.parse_args()
    quota, burst = default_quota() if args.quota is None else (args.quota, float("nan"))
    load_before = os.getloadavg()
    dbname, url = create_database()
    port, ingest_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "SPECTRAL_ENV": "production",
            "SPECTRAL_REDIS_URL": REDIS_URL,
            "SPECTRAL_REDIS_KEY_PREFIX": f"spectral:bench:{uuid.uuid4().hex[:8]}",
            "SPECTRAL_JWT_SECRET": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        }
        # Production mode as the README deploys it: the API and the OTLP ingest process apart.
        server = start_server("spectral_api", url, Path(tmp), port, env=env, default_limits=True)
        ingest = start_server(
            "spectral_otel_ingest", url, Path(tmp), ingest_port, env=env, default_limits=True
        )
        try:
            tally, fleet = asyncio.run(run(port, ingest_port, args, quota))
            alive = server.poll() is None and ingest.poll() is None
        finally:
            for process in (server, ingest):
                process.terminate()
                process.wait(timeout=30)
        stored = stored_spans(dbname, fleet.workspace_id)
    load_after = os.getloadavg()
    drop_database(dbname)

    lost = tally.accepted_spans - stored
    rows = [
        (
            "fleet",
            f"{args.agents} agents, {BATCH_SPANS}-span OTLP batches at {args.quota_share:.0%} of the default quota ({quota:,.0f} spans/s, burst {burst:,.0f}), config read once a second each",
        ),
        (
            "spans sent / acknowledged / stored",
            f"{tally.sent_spans:,} / {tally.accepted_spans:,} / {stored:,}",
        ),
        ("accepted spans lost", f"{lost:,}" + (" (bar: 0)" if lost else "")),
        ("fleet requests answered 429/503 (re-sent)", f"{tally.throttled:,}"),
        (
            "config reads (429: the fleet's one key over its per-principal API limit / other errors)",
            f"{tally.config_reads:,} ({tally.config_limited:,} / {tally.config_errors})",
        ),
        ("health checks (failed)", f"{len(tally.health_ms):,} ({tally.health_failures})"),
        (
            "health p50 / p99 / max ms",
            f"{percentile(tally.health_ms, 50):.1f} / {percentile(tally.health_ms, 99):.1f} / {max(tally.health_ms, default=float('nan')):.1f} (bar: p99 < 100)",
        ),
        ("API and ingest processes alive at the end", str(alive)),
        ("clients still waiting for an answer 15 s after the end (cut off)", str(tally.cut_off)),
        *((f"hostile: {name}", f"{count:,}") for name, count in sorted(tally.statuses.items())),
    ]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)
    print(table)
    if args.write:
        today = datetime.now(UTC).date().isoformat()
        write_section(
            SECTION,
            f"Run {today} on {machine()}: `uv run python bench/hostile_load.py --seconds {args.seconds:g} "
            f"--agents {args.agents}`. One production-mode `spectral-api` process and one "
            "`spectral-otel-ingest` process taking the fleet's and the attacker's OTLP (PostgreSQL + Redis, "
            "default limits), clients on the same 2 cores. The machine is shared: load average "
            f"(1/5/15 min) {_load(load_before)} before the run, {_load(load_after)} after it.\n\n" + table,
        )


if __name__ == "__main__":
    main()
