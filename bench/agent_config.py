"""Runtime config reads and the API's plain authenticated GET against their floors, on a real
`spectral-api` process: `GET {ws}/agents/{id}/config` with a workspace API key (200, and 304 with
If-None-Match), and `GET {ws}/agents/{id}` through the full stack with the API key and with a
user's JWT; side by side with a bare FastAPI app returning the same bodies and a one-query pooled
psycopg app (`floors.py`), all served alike (one uvicorn process, uvloop + httptools).

    uv run python bench/agent_config.py [--seconds 8] [--concurrency 64] [--rounds 3]
        [--paced-rate 1000] [--paced-rate-full-stack 100] [--write]

Two ways of loading, each target in interleaved rounds (every target once per round, in the same
order), each row the median round (by requests/s when saturated, by p99 when paced):

- Saturated (closed loop): `--concurrency` keep-alive connections, each sending its next request
  as soon as the last is answered. This measures capacity (requests/s). Its latency is not the
  server's responsiveness: by Little's law, latency = connections / throughput at saturation
  (64 connections at 2,000 req/s is 32 ms, whatever the server does), so a p99 under 10 ms there
  would need over 6,400 req/s, more than the bare framework serves on this machine.
- Paced (open loop): the same connections send at a fixed offered rate, request i at
  start + i / rate, spread round-robin over the connections; a request's latency counts from
  when it was due, so a server that falls behind shows the queueing it causes (no coordinated
  omission). The config read and its floor are paced at `--paced-rate`, the full-stack GETs and
  their floor at `--paced-rate-full-stack` (they serve about a tenth as much). This measures the
  latency an agent sees at a given load.

A fresh database is created (and dropped); a tenant, an agent with a config and a `read:agents`
key are made through the API. The load generator is a minimal keep-alive HTTP/1.1 client on
asyncio streams (httpx would cost more CPU than the server on the same cores); it shares the
machine with the server, equally for every target. `--write` records the tables in
bench/RESULTS.md under "## Agent config (issue 16)".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
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
    key: str  # a `read:agents` API key
    user_token: str  # the owner's JWT
    etag: str
    body: bytes
    agent_body: bytes


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
        runtime = {"Authorization": f"Bearer {key.json()['key']}"}
        first = api.get(f"{agent_path}/config", headers=runtime)
        first.raise_for_status()
        agent_read = api.get(agent_path, headers=runtime)
        agent_read.raise_for_status()
        return Prepared(
            f"{agent_path}/config",
            agent_path,
            key.json()["key"],
            body["access_token"],
            first.headers["etag"],
            first.content,
            agent_read.content,
        )


@dataclass
class Run:
    label: str
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


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, expect: int
) -> None:
    writer.write(request)
    status = await _read_response(reader)
    if status != expect:
        raise RuntimeError(f"expected {expect}, got {status}")


async def _client(port: int, request: bytes, until: float, expect: int, latencies: list[float]) -> int:
    """Closed loop: the next request as soon as the last is answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            await _exchange(reader, writer, request, expect)
            latencies.append((time.perf_counter() - started) * 1000)
            done += 1
    finally:
        writer.close()
    return done


async def _paced_client(
    port: int, request: bytes, due: list[float], expect: int, latencies: list[float]
) -> float:
    """Open loop: each request sent when it is due (or at once, if the last one is still being
    answered); its latency counts from when it was due. Returns when the last was answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for at in due:
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await _exchange(reader, writer, request, expect)
            latencies.append((time.perf_counter() - at) * 1000)
    finally:
        writer.close()
    return time.perf_counter()


def _request(path: str, token: str, etag: str | None) -> bytes:
    headers = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    if etag is not None:
        headers.append(f"If-None-Match: {etag}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode()


@dataclass(frozen=True)
class Target:
    label: str
    port: int
    path: str
    token: str
    etag: str | None = None

    @property
    def request(self) -> bytes:
        return _request(self.path, self.token, self.etag)

    @property
    def expect(self) -> int:
        return 304 if self.etag is not None else 200

    async def warm(self, concurrency: int) -> None:
        """Connection pools, caches and first-use paths warmed before measuring."""
        until = time.perf_counter() + 1.0
        await asyncio.gather(
            *(_client(self.port, self.request, until, self.expect, []) for _ in range(concurrency))
        )

    async def saturated(self, seconds: float, concurrency: int) -> Run:
        await self.warm(concurrency)
        latencies: list[float] = []
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(
                _client(self.port, self.request, started + seconds, self.expect, latencies)
                for _ in range(concurrency)
            )
        )
        return Run(self.label, sum(counts), time.perf_counter() - started, latencies)

    async def paced(self, seconds: float, concurrency: int, rate: float) -> Run:
        await self.warm(concurrency)
        total = int(seconds * rate)
        started = time.perf_counter() + 0.05
        due = [started + i / rate for i in range(total)]
        latencies: list[float] = []
        finished = await asyncio.gather(
            *(
                _paced_client(self.port, self.request, due[c::concurrency], self.expect, latencies)
                for c in range(concurrency)
            )
        )
        return Run(self.label, total, max(finished) - started, latencies)


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


def median_run(runs: list[Run], by: Callable[[Run], float]) -> Run:
    """The median run by `by` (its other figures go with it)."""
    return sorted(runs, key=by)[len(runs) // 2]


CONFIG_200 = "Spectral, config (200)"
BARE_200 = "bare FastAPI, config (200)"
QUERY_200 = "one pooled SELECT, config (200)"
CONFIG_304 = "Spectral, config If-None-Match (304)"
BARE_304 = "bare FastAPI, config (304)"
GET_KEY = "Spectral, GET agents/{id}, API key (200)"
GET_JWT = "Spectral, GET agents/{id}, JWT (200)"
BARE_GET = "bare FastAPI, agent (200)"
QUERY_GET = "one pooled SELECT, agent (200)"
# Each Spectral row's floors: (the bare endpoint, the one-query endpoint or None).
FLOORS = {
    CONFIG_200: (BARE_200, QUERY_200),
    CONFIG_304: (BARE_304, None),
    GET_KEY: (BARE_GET, QUERY_GET),
    GET_JWT: (BARE_GET, QUERY_GET),
}


def _ratios(label: str, medians: dict[str, Run]) -> str:
    if label not in FLOORS:
        return ""
    bare, one_query = FLOORS[label]
    rate = medians[label].rate
    text = f"{rate / medians[bare].rate:.0%} of bare"
    if one_query is not None:
        text += f", {rate / medians[one_query].rate:.0%} of one-query"
    return text


def _measure(
    targets: list[Target],
    rounds: int,
    what: str,
    measure: Callable[[Target], Run],
    median_by: Callable[[Run], float],
) -> dict[str, Run]:
    results: dict[str, list[Run]] = {}
    for round_number in range(rounds):
        for target in targets:
            run = measure(target)
            results.setdefault(target.label, []).append(run)
            print(
                f"round {round_number + 1}, {what}: {target.label}: {run.rate:,.0f} req/s, "
                f"p99 {run.percentile(99):.1f} ms",
                flush=True,
            )
    return {label: median_run(runs, median_by) for label, runs in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced-rate", type=float, default=1000.0, help="req/s offered to the config read")
    parser.add_argument(
        "--paced-rate-full-stack", type=float, default=100.0, help="req/s offered to the full-stack GETs"
    )
    parser.add_argument("--write", action="store_true", help="record the results in bench/RESULTS.md")
    args = parser.parse_args()

    load_before = os.getloadavg()
    name, url = create_database()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            api_port, bare_port, query_port = free_port(), free_port(), free_port()
            processes.append(start_server("spectral_api", url, Path(data_dir), api_port))
            ready = prepare(api_port)
            body_file, agent_file = Path(data_dir) / "body.json", Path(data_dir) / "agent.json"
            body_file.write_bytes(ready.body)
            agent_file.write_bytes(ready.agent_body)
            floor_env = {
                "FLOOR_BODY": str(body_file),
                "FLOOR_AGENT_BODY": str(agent_file),
                "FLOOR_ETAG": ready.etag,
            }
            processes.append(start_floor("bare_app", bare_port, floor_env))
            dsn = url.replace("postgresql+psycopg://", "postgresql://")
            processes.append(start_floor("one_query_app", query_port, {"FLOOR_DSN": dsn}))
            key, jwt = ready.key, ready.user_token
            targets = {
                CONFIG_200: Target(CONFIG_200, api_port, ready.path, key),
                BARE_200: Target(BARE_200, bare_port, ready.path, key),
                QUERY_200: Target(QUERY_200, query_port, ready.path, key),
                CONFIG_304: Target(CONFIG_304, api_port, ready.path, key, ready.etag),
                BARE_304: Target(BARE_304, bare_port, ready.path, key, ready.etag),
                GET_KEY: Target(GET_KEY, api_port, ready.agent_path, key),
                GET_JWT: Target(GET_JWT, api_port, ready.agent_path, jwt),
                BARE_GET: Target(BARE_GET, bare_port, ready.agent_path, key),
                QUERY_GET: Target(QUERY_GET, query_port, ready.agent_path, key),
            }
            saturated = _measure(
                list(targets.values()),
                args.rounds,
                "saturated",
                lambda target: asyncio.run(target.saturated(args.seconds, args.concurrency)),
                median_by=lambda run: run.rate,  # capacity
            )
            paced_rates = {
                CONFIG_200: args.paced_rate,
                BARE_200: args.paced_rate,
                GET_KEY: args.paced_rate_full_stack,
                GET_JWT: args.paced_rate_full_stack,
                BARE_GET: args.paced_rate_full_stack,
            }
            paced = _measure(
                [targets[label] for label in paced_rates],
                args.rounds,
                "paced",
                lambda target: asyncio.run(
                    target.paced(args.seconds, args.concurrency, paced_rates[target.label])
                ),
                median_by=lambda run: run.percentile(99),  # every round answers about the offered rate
            )
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        drop_database(name)

    saturated_rows = [
        f"| {label} | {run.rate:,.0f} | {run.percentile(50):.2f} | {run.percentile(99):.2f} | "
        f"{_ratios(label, saturated)} |"
        for label, run in saturated.items()
    ]
    paced_rows = [
        f"| {label} | {paced_rates[label]:,.0f} | {run.rate:,.0f} | {run.percentile(50):.2f} | "
        f"{run.percentile(99):.2f} |"
        for label, run in paced.items()
    ]
    config = saturated[CONFIG_200]
    text = "\n".join(
        [
            f"Run {datetime.now(UTC):%Y-%m-%d} on {machine()}: `uv run python bench/agent_config.py "
            f"--seconds {args.seconds:g} --concurrency {args.concurrency} --rounds {args.rounds} "
            f"--paced-rate {args.paced_rate:g} --paced-rate-full-stack {args.paced_rate_full_stack:g}`. "
            "Load average (1/5/15 min) when the run started: "
            f"{load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} "
            "(the machine is shared with other jobs).",
            "",
            "Every target is one uvicorn process (uvloop + httptools) on 127.0.0.1, loaded by "
            f"{args.concurrency} keep-alive connections on the same machine; the targets run one after "
            f"another in {args.rounds} interleaved rounds and each row is the median round. Spectral "
            "is `spectral-api` on PostgreSQL (no Redis: in-process rate limit); the config read and "
            "the first GET with a `read:agents` API key, the second GET with the owner's JWT. "
            "Method (saturated vs paced, Little's law): see the docstring of `bench/agent_config.py`.",
            "",
            f"Saturated ({args.concurrency} connections, closed loop: capacity; latency here is "
            f"about {args.concurrency} / throughput):",
            "",
            "| request | requests/s | p50 ms | p99 ms | ratio |",
            "|---|---|---|---|---|",
            *saturated_rows,
            "",
            f"Paced ({args.concurrency} connections, open loop at a fixed offered rate; latency from "
            "when each request was due):",
            "",
            "| request | offered req/s | answered req/s | p50 ms | p99 ms |",
            "|---|---|---|---|---|",
            *paced_rows,
            "",
            f"The config read: {config.rate / saturated[BARE_200].rate:.0%} of the bare endpoint's "
            f"requests/s (goal >= 50%); p99 {paced[CONFIG_200].percentile(99):.1f} ms paced at "
            f"{args.paced_rate:,.0f} req/s (goal < 10 ms; bare {paced[BARE_200].percentile(99):.1f} ms), "
            f"{config.percentile(99):.1f} ms saturated; a 304 at {saturated[CONFIG_304].rate:,.0f} req/s "
            f"against {config.rate:,.0f} for a 200.",
        ]
    )
    print(text)
    if args.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
