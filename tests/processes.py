"""Start Spectral's real processes for end-to-end tests, the way an operator would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from testenv import PG_ADMIN_DSN, REDIS_URL

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database (dropped afterwards); yields its SQLAlchemy URL, not yet migrated."""
    name = f"spectral_e2e_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_env(database_url: str, tmp: Path) -> dict[str, str]:
    """Production settings on this machine's PostgreSQL and Redis, isolated by names of their own."""
    run = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "SPECTRAL_ENV": "production",
        "SPECTRAL_DATABASE_URL": database_url,
        "SPECTRAL_REDIS_URL": REDIS_URL,
        "SPECTRAL_JWT_SECRET": "e2e-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "SPECTRAL_DATA_DIR": str(tmp / "data"),
        "SPECTRAL_DEFAULT_QUEUE_NAME": f"spectral:e2e:{run}:default",
        "SPECTRAL_SCAN_QUEUE_NAME": f"spectral:e2e:{run}:scans",
        "SPECTRAL_REDIS_KEY_PREFIX": f"spectral:e2e:{run}",
        "SPECTRAL_REPLAY_ALLOW_PRIVATE": "true",
        # Heartbeats come every 10 s; a worker silent for 15 s is gone (the reaper test waits that long).
        "SPECTRAL_SCAN_STALE_AFTER_S": "15",
        "SPECTRAL_LOG_LEVEL": "WARNING",
        # Every worker of these settings serves /metrics on a port of its own run.
        "SPECTRAL_WORKER_METRICS_PORT": str(free_port()),
    }


class Process:
    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a crashed worker)."""
        self.popen.kill()
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._log.close()


def wait_http(url: str, process: Process, *, timeout_s: float = 180.0) -> None:
    """Wait for a process to serve `url`: generous, since a loaded 2-core machine can take a minute
    to import and start it; a process that exits fails at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode}:\n{process.log()}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout_s}s:\n{process.log()}")
