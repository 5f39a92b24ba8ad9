"""Runtime config reads: requests/s and latency percentiles of `GET {ws}/agents/{id}/config` with a
workspace API key, against a real `spectral-api` uvicorn process (uvloop + httptools) on PostgreSQL,
without and with `If-None-Match` (200 with the config vs 304).

    uv run python bench/agent_config.py [--seconds 10] [--concurrency 16] [--write]

A fresh database is created (and dropped); a tenant, an agent with a config and a `read:agents`
key are made through the API. The load generator is a minimal keep-alive HTTP/1.1 client on
asyncio streams (httpx would cost more CPU than the server on the same cores), so the numbers are
the server's. The config read itself is one primary-key lookup of the agent row (the resolved
config and its ETag are denormalised there); the API key's authentication adds its own lookups.
`--write` records the table in bench/RESULTS.md under "## Agent config (issue 5)".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from harness import create_database, drop_database, free_port, machine, start_server, write_section

SECTION = "## Agent config (issue 5)"
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


def prepare(port: int) -> tuple[str, str, str]:
    """(config path, API key, ETag) for a new tenant's agent, made through the API."""
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
        path = f"{ws}/agents/{agent.json()['id']}/config"
        first = api.get(path, headers={"Authorization": f"Bearer {key.json()['key']}"})
        first.raise_for_status()
        return path, key.json()["key"], first.headers["etag"]


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


async def load(port: int, path: str, key: str, etag: str | None, seconds: float, concurrency: int) -> Run:
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
    label = "If-None-Match (304)" if etag is not None else "full config (200)"
    return Run(label, expect, sum(counts), elapsed, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--write", action="store_true", help="record the results in bench/RESULTS.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    name, url = create_database()
    server: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            port = free_port()
            server = start_server("spectral_api", url, Path(data_dir), port)
            path, key, etag = prepare(port)
            runs = [
                asyncio.run(load(port, path, key, None, args.seconds, args.concurrency)),
                asyncio.run(load(port, path, key, etag, args.seconds, args.concurrency)),
            ]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_database(name)

    rows = [
        f"| {run.label} | {run.requests} | {run.rate:,.0f} | {statistics.median(run.latencies_ms):.2f} | "
        f"{run.percentile(95):.2f} | {run.percentile(99):.2f} |"
        for run in runs
    ]
    table = "\n".join(
        [
            "| request | requests | requests/s | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    text = (
        f"Run {datetime.now(UTC):%Y-%m-%d} on {machine()}: "
        f"`uv run python bench/agent_config.py --seconds {args.seconds:g} --concurrency {args.concurrency}`.\n\n"
        f"One `spectral-api` uvicorn process (uvloop + httptools, 1 worker) on 127.0.0.1, {args.concurrency} "
        "keep-alive clients on the same machine, each request authenticated with a `read:agents` API key. "
        f"Load average when the run started: {load_before:.1f} (other jobs share the machine).\n\n"
        f"{table}\n\n"
        "The config read is one primary-key lookup of the agent row, which carries the active version's "
        "resolved config and ETag; a 304 skips serialising the body. The rest of each request is the API "
        "key's authentication (key by hash, then its workspace) and the unit of work's transaction."
    )
    print(text)
    if args.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
