"""What the benchmarks share: a PostgreSQL database of their own, a real server process on a free
port, and a description of the machine for bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx
import psycopg

from spectral.platform.migrations.runner import upgrade

PG_ADMIN_DSN = os.environ.get("SPECTRAL_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
JWT_SECRET = "bench-secret-" + "x" * 40


def create_database() -> tuple[str, str]:
    """A fresh database migrated to head: (its name, its SQLAlchemy URL)."""
    name = f"spectral_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    upgrade(url)
    return name, url


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    module: str,
    url: str,
    data_dir: Path,
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    default_limits: bool = False,
) -> subprocess.Popen[bytes]:
    """`python -m <module>` (spectral_api or spectral_otel_ingest) on PostgreSQL, once healthy.

    `env` adds or overrides settings; `default_limits` keeps the server's rate limits (by default
    the benchmarks measure the request path, not the per-principal rate limit)."""
    env = {
        **os.environ,
        "SPECTRAL_ENV": "test",
        "SPECTRAL_DATABASE_URL": url,
        "SPECTRAL_JWT_SECRET": JWT_SECRET,
        "SPECTRAL_DATA_DIR": str(data_dir),
        "SPECTRAL_LOG_LEVEL": "WARNING",
        **({} if default_limits else {"SPECTRAL_RATE_LIMIT_API_PER_MINUTE": "100000000"}),
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)], env=env
    )
    deadline = time.monotonic() + 120  # a loaded 2-core machine can take a minute to start it
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{module} did not start")


def machine(*, with_postgres: bool = True) -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    described = f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"
    if not with_postgres:
        return described
    with psycopg.connect(PG_ADMIN_DSN) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"{described}, PostgreSQL {row[0] if row else '?'}"


RESULTS = Path(__file__).parent / "RESULTS.md"


def write_section(title: str, text: str) -> None:
    """Replace (or append) the section `title` of bench/RESULTS.md with `text`."""
    body = text.strip().removeprefix(title).strip()
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = f"{title}\n\n{body}\n\n"
    updated = (
        pattern.sub(lambda _: block, current)
        if pattern.search(current)
        else current.rstrip() + "\n\n" + block
    )
    RESULTS.write_text(updated.rstrip() + "\n")
