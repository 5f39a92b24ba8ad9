"""`spectral demo`: the optimization loop on a generated workspace, on a local embedded server
that stays up afterwards for you to explore (with the CLI, or the API docs in a browser)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from spectral_cli.context import out
from spectral_cli.demo.seeding import SeededWorkspace, SeedingError, seed_workspace
from spectral_cli.demo.workspace import demo_workspace
from spectral_cli.errors import CliError, ExitCode

_EMBEDDED_ONLY = ("SPECTRAL_DATABASE_URL", "SPECTRAL_REDIS_URL", "SPECTRAL_ENV", "SPECTRAL_LLM_PROVIDER")


def port_or_free(preferred: int) -> int:
    for candidate in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise CliError("no free port on 127.0.0.1", ExitCode.SERVER)


@dataclass(slots=True)
class DemoServers:
    api_url: str
    replay_url: str
    data_dir: Path
    processes: list[subprocess.Popen[bytes]]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)

    def wait(self) -> None:
        """Until the API exits or the user presses Ctrl-C."""
        with contextlib.suppress(KeyboardInterrupt):
            self.processes[-1].wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CliError(
                f"{url} did not come up; its log ({log}):\n{log.read_text()[-2000:]}", ExitCode.SERVER
            )
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise CliError(f"{url} did not come up within 90 s; see {log}", ExitCode.SERVER)


def start_servers(seed: int, port: int, data_dir: Path | None) -> DemoServers:
    if importlib.util.find_spec("spectral_api") is None:
        raise CliError(
            "`spectral demo` runs a local Spectral server: install spectral-api beside the CLI "
            "(a checkout of the repository has it: `make demo`)",
            ExitCode.USAGE,
        )
    directory = data_dir or Path(tempfile.mkdtemp(prefix="spectral-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _EMBEDDED_ONLY}
    env |= {
        "SPECTRAL_DATA_DIR": str(directory / "data"),
        "SPECTRAL_REPLAY_ALLOW_PRIVATE": "true",  # the demo agent listens on loopback
        "SPECTRAL_LOG_LEVEL": env.get("SPECTRAL_LOG_LEVEL", "WARNING"),
    }
    api_port, agent_port = port_or_free(port), port_or_free(0)
    processes: list[subprocess.Popen[bytes]] = []
    servers = DemoServers(
        f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{agent_port}/replay", directory, processes
    )
    try:
        for name, args, health in (
            (
                "demo-agent",
                ["-m", "spectral_cli.demo.agent", "--port", str(agent_port), "--seed", str(seed)],
                f"http://127.0.0.1:{agent_port}/health",
            ),
            ("api", ["-m", "spectral_api", "--port", str(api_port)], f"{servers.api_url}/api/v1/health"),
        ):
            log = directory / f"{name}.log"
            processes.append(
                subprocess.Popen(  # noqa: S603 - this interpreter and our own modules
                    [sys.executable, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
                )
            )
            _wait_healthy(health, processes[-1], log)
    except BaseException:
        servers.stop()
        raise
    return servers


def seed(servers: DemoServers, seed: int, n_traces: int, *, quiet: bool) -> SeededWorkspace:
    demo = demo_workspace(seed, n_traces)
    n_spans = sum(len(batch) for batch in demo.span_batches())

    async def run() -> SeededWorkspace:
        async with httpx.AsyncClient(base_url=servers.api_url, timeout=120) as client:
            with Progress(
                TextColumn("seeding"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("spans"),
                console=out,
                disable=quiet,
            ) as progress:
                task = progress.add_task("seed", total=n_spans)
                seeded = await seed_workspace(
                    client, demo, servers.replay_url, on_batch=lambda n: progress.advance(task, n)
                )
            # The seeding's client closes with this block; the CLI goes on with its own.
            return seeded

    try:
        return asyncio.run(run())
    except SeedingError as exc:
        raise CliError(str(exc), ExitCode.API_ERROR) from exc
