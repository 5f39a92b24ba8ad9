"""The API's own log over a whole scan (embedded: the scan runs in the API process): every line is
JSON, every request line has its request id, every line of the scan job has the scan id, and the
thousands of replay calls made with httpx write no line at INFO."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest

from processes import Process, free_port, wait_http
from spectral_cli.demo.seeding import seed_workspace
from spectral_cli.demo.workspace import demo_workspace

pytestmark = pytest.mark.e2e


def test_one_json_line_per_request_and_job_event_with_ids(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRAL_")} | {
        "SPECTRAL_DATA_DIR": str(tmp_path / "data"),
        "SPECTRAL_REPLAY_ALLOW_PRIVATE": "true",
        "SPECTRAL_LOG_LEVEL": "INFO",
    }
    api_port, agent_port = free_port(), free_port()
    agent = Process("demo-agent", ["-m", "spectral_cli.demo.agent", "--port", str(agent_port)], env, tmp_path)
    api = Process("api", ["-m", "spectral_api", "--port", str(api_port)], env, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{agent_port}/health", agent)
        wait_http(f"http://127.0.0.1:{api_port}/api/v1/health", api, timeout_s=60)

        async def scan() -> tuple[str, dict[str, object]]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=120) as client:
                seeded = await seed_workspace(
                    client, demo_workspace(7, 300), f"http://127.0.0.1:{agent_port}/replay"
                )
                started = await seeded.start_scan()
                return started.headers["X-Request-Id"], await seeded.wait_for(started.json()["id"])

        start_request_id, finished = asyncio.run(scan())
    finally:
        api.stop()
        agent.stop()
    assert finished["status"] == "succeeded"
    scan_id = finished["id"]

    lines = [json.loads(line) for line in api.log_path.read_text().splitlines() if line.strip()]
    requests = [line for line in lines if line["logger"] == "spectral.access"]
    assert len(requests) > 10
    assert all(len(line["request_id"]) >= 16 for line in requests)
    assert not [line for line in lines if line["logger"].startswith(("httpx", "httpcore"))]

    job = [line for line in lines if line.get("job") == "run_scan"]
    assert [line["message"] for line in job if line["logger"] == "spectral.jobs"] == [
        "job started",
        "job finished",
    ]
    assert {line["scan_id"] for line in job} == {scan_id}
    # The scan's own event lines are among them, tied to the request that started the scan.
    events = [line for line in job if line["message"] == "scan event"]
    assert {line["phase"] for line in events} >= {"collect", "diagnose", "validate"}
    assert {line["request_id"] for line in job} == {start_request_id}
