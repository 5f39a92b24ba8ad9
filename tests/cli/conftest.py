"""The `spectral` CLI against real servers on loopback: the embedded default (SQLite, in-process
queue) and production (PostgreSQL + Redis + a worker process), each with the demo agent's replay
endpoint. The CLI runs as its own process, exactly as a user's shell runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from processes import ROOT, Process, free_port, fresh_database, production_env, wait_http
from spectral_cli.demo.seeding import SeededWorkspace, seed_workspace
from spectral_cli.demo.workspace import demo_workspace

_EMBEDDED_ONLY = ("SPECTRAL_DATABASE_URL", "SPECTRAL_REDIS_URL", "SPECTRAL_ENV", "SPECTRAL_LLM_PROVIDER")


@dataclass(slots=True)
class Server:
    backend: str
    api_url: str
    replay_url: str


def embedded_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _EMBEDDED_ONLY}
    return env | {
        "SPECTRAL_DATA_DIR": str(tmp / "data"),
        "SPECTRAL_REPLAY_ALLOW_PRIVATE": "true",
        "SPECTRAL_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module", params=["embedded", "production"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"cli-{request.param}")
    api_port, agent_port = free_port(), free_port()
    processes: list[Process] = []

    def start(env: dict[str, str], with_worker: bool) -> Server:
        processes.append(
            Process("demo-agent", ["-m", "spectral_cli.demo.agent", "--port", str(agent_port)], env, tmp)
        )
        processes.append(Process("api", ["-m", "spectral_api", "--port", str(api_port)], env, tmp))
        if with_worker:
            processes.append(Process("worker", ["-m", "spectral_worker"], env, tmp))
        wait_http(f"http://127.0.0.1:{agent_port}/health", processes[0])
        wait_http(f"http://127.0.0.1:{api_port}/api/v1/health", processes[1], timeout_s=60)
        return Server(request.param, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{agent_port}/replay")

    try:
        if request.param == "embedded":
            yield start(embedded_env(tmp), with_worker=False)
        else:
            with fresh_database() as database_url:
                env = production_env(database_url, tmp)
                subprocess.run(
                    [sys.executable, "-m", "spectral.platform.admin_cli", "migrate"],
                    cwd=ROOT,
                    env=env,
                    check=True,
                )
                try:
                    yield start(env, with_worker=True)
                finally:
                    for process in reversed(processes):
                        process.stop()
    finally:
        for process in reversed(processes):
            process.stop()


@dataclass(slots=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, f"exit {self.code}: {self.stderr}"
        return json.loads(self.stdout)


class Cli:
    """Runs `python -m spectral_cli` with its own config directory, against one server."""

    def __init__(self, server: Server, config_dir: Path) -> None:
        self.server = server
        self.config_dir = config_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRAL_")} | {
            "SPECTRAL_CONFIG_DIR": str(config_dir),
            "SPECTRAL_SERVER": server.api_url,
            "COLUMNS": "200",
            "PYTHONUNBUFFERED": "1",
        }

    def __call__(self, *args: str, timeout_s: float = 300) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "spectral_cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "spectral_cli", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path / "config")


def seed(server: Server, n_traces: int = 900) -> SeededWorkspace:
    """The demo workspace (agent with a replay endpoint, rubric, objective, traffic) on `server`."""

    async def run() -> SeededWorkspace:
        async with httpx.AsyncClient(base_url=server.api_url, timeout=120) as client:
            return await seed_workspace(client, demo_workspace(7, n_traces), server.replay_url)

    return asyncio.run(run())
