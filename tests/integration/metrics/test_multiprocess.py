"""Multi-process mode: processes that share PROMETHEUS_MULTIPROC_DIR (set before they start, as a
server with several worker processes does) each write their series, and any one of them serves
the sum of all; a gauge read when scraped keeps the value of the process scraped last."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from processes import ROOT
from scrape import value

RECORD = """
import sys
from spectral.platform.shared import metrics
metrics.SCANS_FINISHED.labels("succeeded").inc(int(sys.argv[1]))
metrics.SCAN_PHASE_DURATION.labels("collect").observe(0.2)
metrics.QUEUE_DEPTH.set(int(sys.argv[1]))
"""
SERVE = "import sys; from spectral.platform.shared import metrics; sys.stdout.write(metrics.exposition().decode())"


def python(code: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_processes_sharing_a_directory_are_served_together(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    python(RECORD, "5", env=env)
    python(RECORD, "2", env=env)
    text = python(SERVE, env=env)
    assert value(text, "spectral_scans_finished_total", status="succeeded") == 7
    assert value(text, "spectral_scan_phase_duration_seconds_count", phase="collect") == 2
    # The process that set it last, not the largest value ever set.
    assert value(text, "spectral_queue_depth") == 2
