"""Runtime config reads against their floors: requests/s and latency of
`GET {ws}/agents/{id}/config` with a workspace API key on a real `spectral-api` process, side by
side with a bare FastAPI endpoint returning the same body and a one-query pooled psycopg endpoint
(`floors.py`), all served alike (one uvicorn process, uvloop + httptools), measured in interleaved
rounds; and the API-wide p99 of a plain authenticated GET (`GET {ws}/agents/{id}`, full stack).

    uv run python bench/agent_config.py [--seconds 10] [--concurrency 64] [--rounds 3] [--write]

A fresh database is created (and dropped); a tenant, an agent with a config and a `read:agents`
key are made through the API. The load generator is a minimal keep-alive HTTP/1.1 client on
asyncio streams (httpx would cost more CPU than the server on the same cores); it shares the
machine with the server, equally for every target. Each figure is the median of the rounds.
`--write` records the table in bench/RESULTS.md under "## Agent config (issue 16)".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from harness import create_database, drop_database, free_port, machine, start_server, write_section

SECTION = "## Agent config (issue 16)"
BENCH_DIR = Path(__file__).parent
CONFIG = {
    "model": "gpt-4o-mini",
    "params": {"temperature": 0.2, "max_tokens": 400},
    "templates": {
        "system": "You are a support agent for Acme. Answer in JSON with keys answer and confidence. " * 4,
        "user": "Customer {{email}} asks about order {{order_id}}: {{question}}",
    },
    "tools": [
        {"name": "lookup_order", "description": "Find an order by id", "parameters": {"type": "object"}}
    ],
}


@dataclass(frozen=True)
class Prepared:
    path: str  # the config read
    agent_path: str  # the plain authenticated GET
    key: str
    etag: str
    body: bytes
    workspace_id: str
    agent_id: str


def prepare(port: int) -> Prepared:
    """A new tenant's agent with a config and a `read:agents` key, made through the API."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
        registered = api.post(
            "/api/v1/auth/register",
            json={
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery staple",
                "tenant_name": "Bench",
            },
        )
        registered.raise_for_status()
        body = registered.json()
        ws = f"/api/v1/workspaces/{body['workspace_id']}"
        user = {"Authorization": f"Bearer {body['access_token']}"}
        agent = api.post(
            f"{ws}/agents", json={"name": "Support", "slug": "support", "config": CONFIG}, headers=user
        )
        agent.raise_for_status()
        key = api.post(f"{ws}/keys", json={"name": "runtime", "scopes": ["read:agents"]}, headers=user)
        key.raise_for_status()
        agent_path = f"{ws}/agents/{agent.json()['id']}"
        first = api.get(f"{agent_path}/config", headers={"Authorization": f"Bearer {key.json()['key']}"})
        first.raise_for_status()
        return Prepared(
            f"{agent_path}/config",
            agent_path,
            key.json()["key"],
            first.headers["etag"],
            first.content,
            body["workspace_id"],
            agent.json()["id"],
        )


@dataclass
class Run:
    label: str
    status: int
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _client(port: int, request: bytes, until: float, expect: int, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != expect:
                raise RuntimeError(f"expected {expect}, got {status}")
            done += 1
    finally:
        writer.close()
    return done


async def load(
    label: str, port: int, path: str, key: str, etag: str | None, seconds: float, concurrency: int
) -> Run:
    headers = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {key}"]
    if etag is not None:
        headers.append(f"If-None-Match: {etag}")
    request = ("\r\n".join(headers) + "\r\n\r\n").encode()
    expect = 304 if etag is not None else 200
    # Warm up the connection pool, caches and JIT-free paths before measuring.
    warm: list[float] = []
    await asyncio.gather(
        *(_client(port, request, time.perf_counter() + 1.0, expect, warm) for _ in range(concurrency))
    )
    latencies: list[float] = []
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(_client(port, request, started + seconds, expect, latencies) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    return Run(label, expect, sum(counts), elapsed, latencies)


def start_floor(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A floor of `floors.py`, served by uvicorn as `spectral-api` is (1 process, uvloop, httptools)."""
    process = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", f"floors:{factory}", "--factory",
            "--app-dir", str(BENCH_DIR), "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ],
        env={**os.environ, **env},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"floor {factory} did not start")


@dataclass(frozen=True)
class Target:
    label: str
    port: int
    path: str
    etag: str | None


def median_run(runs: list[Run]) -> Run:
    """The run with the median rate (its latencies go with it)."""
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="record the results in bench/RESULTS.md")
    args = parser.parse_args()

    load_before = os.getloadavg()
    name, url = create_database()
    processes: list[subprocess.Popen[bytes]] = []
    results: dict[str, list[Run]] = {}
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            api_port, bare_port, query_port = free_port(), free_port(), free_port()
            processes.append(start_server("spectral_api", url, Path(data_dir), api_port))
            ready = prepare(api_port)
            body_file = Path(data_dir) / "body.json"
            body_file.write_bytes(ready.body)
            processes.append(
                start_floor("bare_app", bare_port, {"FLOOR_BODY": str(body_file), "FLOOR_ETAG": ready.etag})
            )
            dsn = url.replace("postgresql+psycopg://", "postgresql://")
            processes.append(start_floor("one_query_app", query_port, {"FLOOR_DSN": dsn}))
            targets = [
                Target("Spectral, full config (200)", api_port, ready.path, None),
                Target("bare FastAPI (200)", bare_port, ready.path, None),
                Target("one pooled SELECT (200)", query_port, ready.path, None),
                Target("Spectral, If-None-Match (304)", api_port, ready.path, ready.etag),
                Target("bare FastAPI (304)", bare_port, ready.path, ready.etag),
                Target("Spectral, plain GET agents/{id} (200)", api_port, ready.agent_path, None),
            ]
            for round_number in range(args.rounds):
                for target in targets:
                    run = asyncio.run(
                        load(
                            target.label, target.port, target.path, ready.key, target.etag,
                            args.seconds, args.concurrency,
                        )
                    )  # fmt: skip
                    results.setdefault(target.label, []).append(run)
                    print(f"round {round_number + 1}: {target.label}: {run.rate:,.0f} req/s", flush=True)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        drop_database(name)

    medians = {label: median_run(runs) for label, runs in results.items()}
    bare_200 = medians["bare FastAPI (200)"].rate
    bare_304 = medians["bare FastAPI (304)"].rate
    one_query = medians["one pooled SELECT (200)"].rate

    def ratios(label: str) -> str:
        rate = medians[label].rate
        if label.startswith("Spectral, full"):
            return f"{rate / bare_200:.0%} of bare, {rate / one_query:.0%} of one-query"
        if label.startswith("Spectral, If-None"):
            return f"{rate / bare_304:.0%} of bare 304"
        return ""

    rows = [
        f"| {label} | {run.rate:,.0f} | {statistics.median(run.latencies_ms):.2f} | "
        f"{run.percentile(99):.2f} | {ratios(label)} |"
        for label, run in medians.items()
    ]
    table = "\n".join(["| request | requests/s | p50 ms | p99 ms | ratio |", "|---|---|---|---|---|", *rows])
    config_200 = medians["Spectral, full config (200)"]
    config_304 = medians["Spectral, If-None-Match (304)"]
    text = (
        f"Run {datetime.now(UTC):%Y-%m-%d} on {machine()}: `uv run python bench/agent_config.py "
        f"--seconds {args.seconds:g} --concurrency {args.concurrency} --rounds {args.rounds}`.\n\n"
        f"Every target is one uvicorn process (uvloop + httptools) on 127.0.0.1 with "
        f"{args.concurrency} keep-alive clients on the same machine; the targets run one after "
        f"another in {args.rounds} interleaved rounds and each row is the median round. Spectral "
        "is `spectral-api` on PostgreSQL (no Redis: in-process rate limit), each request "
        "authenticated with a `read:agents` API key. Load average (1/5/15 min) when the run "
        f"started: {load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} "
        "(the machine is shared with other jobs).\n\n"
        f"{table}\n\n"
        f"The config read: {config_200.rate / bare_200:.0%} of the bare endpoint's requests/s "
        f"(goal >= 50%), p99 {config_200.percentile(99):.1f} ms (goal < 10 ms); a 304 at "
        f"{config_304.rate:,.0f} req/s against {config_200.rate:,.0f} for a 200. The key's grant and "
        "the runtime document are cached in the process and invalidated by PostgreSQL notices "
        "sent with each write (`shared/read_cache.py`), and the route is served by "
        "`spectral_api/hot_path.py` (the route's own dependencies and endpoint, without the router "
        "walk and dependency solving). The plain GET is the ordinary full stack: routing, "
        "dependency solving, a transaction and two primary-key reads."
    )
    print(text)
    if args.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
