"""README.md's walkthrough, run as written: every ```bash block, in order, in one shell, against a
fresh embedded server (and, from the scan section on, the server `spectral demo` leaves up). A
comment line right after a command that parses as JSON (`# {...}`, `# 2`, `# "applied"`; `…`
stands for any text; a trailing `(remark)` is ignored) is that command's documented output and is
checked. ```sh blocks are shown, not run (make targets, exporters, production). Any curl that gets
an HTTP error, or any failing command, fails the test: the walkthrough cannot drift again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.conftest import embedded_env
from processes import ROOT, Process, free_port, wait_http

pytestmark = pytest.mark.e2e

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
REMARK = re.compile(r"\s{2,}\(.*\)\s*$")
MARK = "@@README-EXPECT {}@@"


def documented_output(line: str) -> Any | None:
    """The JSON a comment line documents, or None for an ordinary comment."""
    text = line.strip()
    if not text.startswith("# "):
        return None
    try:
        return json.loads(REMARK.sub("", text[2:]))
    except json.JSONDecodeError:
        return None


def walkthrough() -> tuple[str, list[Any]]:
    """The bash blocks as one script, each documented output replaced by a marker to check at."""
    expected: list[Any] = []
    script: list[str] = []
    for lang, body in FENCE.findall((ROOT / "README.md").read_text()):
        if lang != "bash":
            continue
        previous = ""
        for line in body.splitlines():
            output = documented_output(line)
            if output is not None and previous.strip() and not previous.lstrip().startswith("#"):
                script.append(f"echo '{MARK.format(len(expected))}'")
                expected.append(output)
            else:
                script.append(line)
            previous = line
    return "\n".join(script), expected


def matches(documented: Any, actual: Any) -> bool:
    if isinstance(documented, str) and "…" in documented:
        if not isinstance(actual, str):
            return False
        parts = documented.split("…")
        return actual.startswith(parts[0]) and actual.endswith(parts[-1])
    if isinstance(documented, dict):
        return (
            isinstance(actual, dict)
            and documented.keys() == actual.keys()
            and all(matches(v, actual[k]) for k, v in documented.items())
        )
    if isinstance(documented, list):
        return (
            isinstance(actual, list)
            and len(documented) == len(actual)
            and all(matches(d, a) for d, a in zip(documented, actual, strict=True))
        )
    return bool(documented == actual and type(documented) is type(actual))


def test_readme_walkthrough_runs_as_documented(tmp_path: Path) -> None:
    script, expected = walkthrough()
    assert len(expected) >= 10, "the README documents outputs to check"
    port = free_port()
    script = script.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    env = embedded_env(tmp_path) | {
        "SPECTRAL_CONFIG_DIR": str(tmp_path / "config"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "COLUMNS": "160",
        "PYTHONUNBUFFERED": "1",
    }
    api = Process("api", ["-m", "spectral_api", "--port", str(port)], env, tmp_path)
    demo = subprocess.Popen(
        [sys.executable, "-m", "spectral_cli", "demo", "--port", "0", "--data-dir", str(tmp_path / "demo")],
        cwd=ROOT,
        env=env | {"SPECTRAL_DATA_DIR": str(tmp_path / "demo-data")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health", api, timeout_s=60)
        assert demo.stdout is not None
        demo_output: list[str] = []
        while not any("Press Ctrl-C" in line for line in demo_output):
            line = demo.stdout.readline()
            assert line, "spectral demo ended early:\n" + "".join(demo_output)
            demo_output.append(line)
        harness = "\n".join(
            [
                "set -euo pipefail",
                "shopt -s inherit_errexit",
                # Every curl that gets an HTTP error fails the walkthrough, as a reader would notice.
                'curl() { command curl --fail-with-body "$@"; }',
                # A blank line before each command, so each command's output starts on its own line.
                "trap 'echo' DEBUG",
                script,
            ]
        )
        work = tmp_path / "work"
        work.mkdir()
        done = subprocess.run(
            ["bash", "-c", harness],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        demo.send_signal(2)
        demo.wait(timeout=60)
        api.stop()
    assert done.returncode == 0, f"the walkthrough failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    segments = done.stdout.split("\n")
    outputs: list[str] = []
    chunk: list[str] = []
    for line in segments:
        marker = re.fullmatch(r"@@README-EXPECT (\d+)@@", line.strip())
        if marker:
            # The command's output: the lines after the blank line the DEBUG trap printed before it.
            text = "\n".join(chunk).rstrip("\n")
            outputs.append(text.rsplit("\n\n", 1)[-1].strip())
            chunk = []
        else:
            chunk.append(line)
    assert len(outputs) == len(expected)
    for number, (documented, actual) in enumerate(zip(expected, outputs, strict=True)):
        assert matches(documented, json.loads(actual)), (
            f"output {number}: README says {documented!r}, got {actual!r}"
        )
