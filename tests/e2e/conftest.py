"""End-to-end: Spectral's real processes as an operator runs them in production mode — the API,
the worker and the demo agent's replay endpoint — on this machine's PostgreSQL and Redis."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from processes import ROOT, Process, free_port, fresh_database, production_env, wait_http

pytestmark = pytest.mark.e2e


@dataclass(slots=True)
class Stack:
    api_url: str
    ingest_url: str
    replay_url: str
    env: dict[str, str]
    log_dir: Path
    api: Process
    worker: Process

    def start_worker(self, name: str = "worker") -> Process:
        self.worker = Process(name, ["-m", "spectral_worker"], self.env, self.log_dir)
        return self.worker


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    with fresh_database() as database_url:
        env = production_env(database_url, tmp)
        subprocess.run(
            [sys.executable, "-m", "spectral.platform.admin_cli", "migrate"], cwd=ROOT, env=env, check=True
        )
        api_port, agent_port, ingest_port = free_port(), free_port(), free_port()
        agent = Process(
            "demo-agent",
            ["-m", "spectral_cli.demo.agent", "--port", str(agent_port), "--seed", "7"],
            env,
            tmp,
        )
        api = Process("api", ["-m", "spectral_api", "--port", str(api_port)], env, tmp)
        # Two uvicorn worker processes, as production runs one per core: each builds its app from
        # the factory `serve` names (spawned processes), so the tests go through that path.
        ingest = Process(
            "ingest", ["-m", "spectral_otel_ingest", "--port", str(ingest_port), "--workers", "2"], env, tmp
        )
        worker = Process("worker", ["-m", "spectral_worker"], env, tmp)
        stack = Stack(
            f"http://127.0.0.1:{api_port}",
            f"http://127.0.0.1:{ingest_port}",
            f"http://127.0.0.1:{agent_port}/replay",
            env,
            tmp,
            api,
            worker,
        )
        try:
            wait_http(f"http://127.0.0.1:{agent_port}/health", agent)
            wait_http(f"{stack.api_url}/api/v1/health", api)
            wait_http(f"{stack.ingest_url}/api/v1/health", ingest)
            yield stack
        finally:
            for process in (stack.worker, ingest, api, agent):
                process.stop()
