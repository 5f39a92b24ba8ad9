"""`make demo`: the optimization loop on the embedded default, start to finish, in about a minute.

1. starts the demo agent's replay endpoint and a Spectral API on the embedded default (SQLite,
   in-process queue, no LLM) in a fresh data directory;
2. registers, creates the agent, a rubric and an objective, and sends the planted-failure traffic
   of `spectral.engine.synthetic` through the native ingest API;
3. runs a scan and prints what it found: failure clusters, and change sets with their validated
   gains on the holdout.
Everything goes through the public HTTP API, as a user's scripts would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from demo_client import seed_workspace
from demo_data import demo_workspace
from polling import request_with_backoff

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and modules
        [sys.executable, *args], cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} did not come up:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up in time")


async def run_demo(api_url: str, replay_url: str, *, seed: int, traces: int) -> None:
    demo = demo_workspace(seed, traces)
    async with httpx.AsyncClient(base_url=api_url, timeout=60) as client:
        print(f"seeding a workspace with {traces} traces of the support agent (planted failures) ...")
        seeded = await seed_workspace(client, demo, replay_url)
        started = await seeded.start_scan()
        started.raise_for_status()
        scan_id = started.json()["id"]
        print(f"scan {scan_id} queued; following it:")
        seen = 0
        while True:
            events = (
                await request_with_backoff(
                    client, "GET", f"{seeded.ws}/scans/{scan_id}/events?after={seen}", headers=seeded.headers
                )
            ).json()
            for event in events["results"]:
                print(f"  [{event['phase']:>10}] {event['message']}")
            seen = events["next_after"] or seen
            scan = await seeded.scan(scan_id)
            if scan["status"] in {"succeeded", "failed", "cancelled"} and not events["results"]:
                break
            await asyncio.sleep(1.0)
        if scan["status"] != "succeeded":
            raise SystemExit(f"the scan ended {scan['status']}: {scan['error']}")
        summary = scan["summary"]
        print(
            f"\n{summary['n_traces']} traces, {summary['n_failing']} failing in analysis, "
            f"{summary['n_clusters']} clusters, {summary['n_changesets']} change sets "
            f"({summary['n_recommended']} recommended)\n"
        )
        changesets = (
            await client.get(f"{seeded.ws}/changesets?scan_id={scan_id}", headers=seeded.headers)
        ).json()
        ranked = sorted(changesets["results"], key=lambda c: -(c["expected_impact"]["objective_gain"] or 0.0))
        for changeset in ranked:
            impact = changeset["expected_impact"]
            gain = (
                f"holdout gain {impact['objective_gain']:+.3f} (95% CI {impact['ci_low']:+.3f} .. {impact['ci_high']:+.3f})"
                if impact["validated"]
                else "estimated from traces only"
            )
            print(f"- {changeset['verdict'].upper():<12} {changeset['title']}")
            print(f"  {gain}; addresses: {', '.join(c['label'] for c in changeset['clusters']) or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Spectral's optimization loop on a demo workspace")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--traces", type=int, default=1200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spectral-demo-") as tmp:
        tmp_path = Path(tmp)
        api_port, agent_port = _free_port(), _free_port()
        env = {
            **os.environ,
            "SPECTRAL_DATA_DIR": str(tmp_path / "data"),
            "SPECTRAL_REPLAY_ALLOW_PRIVATE": "true",  # the demo agent listens on loopback
            "SPECTRAL_LOG_LEVEL": "WARNING",
        }
        for key in ("SPECTRAL_DATABASE_URL", "SPECTRAL_REDIS_URL", "SPECTRAL_ENV", "SPECTRAL_LLM_PROVIDER"):
            env.pop(key, None)  # the embedded default, whatever this shell has configured
        agent_log, api_log = tmp_path / "demo-agent.log", tmp_path / "api.log"
        agent = _start(
            ["examples/demo_agent.py", "--port", str(agent_port), "--seed", str(args.seed)], env, agent_log
        )
        api = _start(["-m", "spectral_api", "--port", str(api_port)], env, api_log)
        try:
            _wait(f"http://127.0.0.1:{agent_port}/health", agent, agent_log)
            _wait(f"http://127.0.0.1:{api_port}/api/v1/health", api, api_log)
            asyncio.run(
                run_demo(
                    f"http://127.0.0.1:{api_port}",
                    f"http://127.0.0.1:{agent_port}/replay",
                    seed=args.seed,
                    traces=args.traces,
                )
            )
        finally:
            for process in (api, agent):
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
