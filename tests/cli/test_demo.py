"""`spectral demo`: seeds the demo workspace on a local embedded server, runs the scan to its change
sets, and leaves the server up — the saved profile works against it until Ctrl-C stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from processes import ROOT

pytestmark = pytest.mark.e2e


def test_demo_leaves_a_server_to_explore(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRAL_")} | {
        "SPECTRAL_CONFIG_DIR": str(tmp_path / "config"),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }
    spectral = [sys.executable, "-m", "spectral_cli"]
    demo = subprocess.Popen(
        [*spectral, "demo", "--traces", "1200", "--port", "0", "--data-dir", str(tmp_path / "demo")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    try:
        printed = []
        while not any("Press Ctrl-C" in line for line in printed):
            line = demo.stdout.readline()
            assert line, (
                f"demo ended early ({demo.poll()}):\n{''.join(printed)}\n{demo.stderr and demo.stderr.read()}"
            )
            printed.append(line)
        output = "".join(printed)
        assert "scan" in output
        assert "recommend" in output

        profiles = json.loads((tmp_path / "config" / "profiles.json").read_text())
        server = profiles["demo"]["server"]
        listed = subprocess.run(
            [*spectral, "--profile", "demo", "changesets", "list", "--json"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        changesets = json.loads(listed.stdout)
        assert any(cs["verdict"] == "recommend" for cs in changesets)
        assert httpx.get(f"{server}/api/v1/health").status_code == 200
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server}/api/v1/health")
