"""A newcomer's misconfigurations, on the real command lines: each process refuses to start with one
line on stderr that names the setting or service and what to do (exit code 2), never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from processes import ROOT, free_port, fresh_database, production_env
from testenv import PG_ADMIN_DSN, TEST_JWT_SECRET

pytestmark = pytest.mark.e2e

ADMIN = ["-m", "spectral.platform.admin_cli"]
API = ["-m", "spectral_api", "--port", "0"]
INGEST = ["-m", "spectral_otel_ingest", "--port", "0"]
WORKER = ["-m", "spectral_worker"]


def _postgres(database: str, port: int | None = None) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    if port is not None:
        base = base.rsplit(":", 1)[0] + f":{port}"
    return f"{base}/{database}"


CASES = {
    "env typo": (
        [*ADMIN, "migrate"],
        {"SPECTRAL_ENV": "prod"},
        ["spectral-admin: invalid settings: SPECTRAL_ENV:", "(got 'prod')"],
    ),
    "not a number": (
        API,
        {"SPECTRAL_DB_POOL_SIZE": "lots"},
        ["spectral_api: invalid settings: SPECTRAL_DB_POOL_SIZE: Input should be a valid integer"],
    ),
    "production without its services": (
        INGEST,
        {"SPECTRAL_ENV": "production"},
        ["spectral_otel_ingest: production mode refuses to start", "SPECTRAL_REDIS_URL must be set"],
    ),
    "unsupported database": (
        [*ADMIN, "migrate"],
        {"SPECTRAL_DATABASE_URL": "mysql://root:hunter2@db/spectral"},
        ["SPECTRAL_DATABASE_URL: ", "PostgreSQL (postgresql+psycopg://"],
    ),
    "database not created": (
        [*ADMIN, "migrate"],
        {"SPECTRAL_DATABASE_URL": _postgres(f"spectral_missing_{uuid.uuid4().hex[:8]}")},
        ["spectral-admin: cannot use the database", "does not exist", "createdb"],
    ),
    "no server on the database port": (
        [*ADMIN, "deactivate-user", "ada@example.com"],
        {"SPECTRAL_DATABASE_URL": _postgres("spectral", port=free_port())},
        ["spectral-admin: cannot use the database", "check SPECTRAL_DATABASE_URL"],
    ),
    "admin on a data directory it cannot make": (
        [*ADMIN, "migrate"],
        {"SPECTRAL_DATA_DIR": "/dev/null/spectral"},
        ["spectral-admin: cannot use /dev/null/spectral", "check SPECTRAL_DATA_DIR"],
    ),
    "api on a data directory it cannot make": (
        API,
        {"SPECTRAL_DATA_DIR": "/dev/null/spectral"},
        ["spectral_api: cannot use /dev/null/spectral", "check SPECTRAL_DATA_DIR"],
    ),
    "api without its redis": (
        API,
        {"SPECTRAL_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
        ["spectral_api: cannot reach Redis", "check SPECTRAL_REDIS_URL"],
    ),
    "redis url without a scheme": (
        INGEST,
        {"SPECTRAL_REDIS_URL": "127.0.0.1:6379"},
        ["spectral_otel_ingest: SPECTRAL_REDIS_URL is not a Redis URL", "redis://host:6379/0"],
    ),
    "worker without its redis": (
        WORKER,
        {"SPECTRAL_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "SPECTRAL_WORKER_METRICS_PORT": "0"},
        ["spectral-worker: cannot reach Redis", "check SPECTRAL_REDIS_URL"],
    ),
}


def _run(args: list[str], overrides: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRAL_")} | {
        "SPECTRAL_DATA_DIR": str(tmp_path / "data"),
        "SPECTRAL_JWT_SECRET": TEST_JWT_SECRET,
        "SPECTRAL_LOG_LEVEL": "WARNING",
        **overrides,
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _refusal(args: list[str], overrides: dict[str, str], tmp_path: Path) -> str:
    """The one line a process that refuses to start prints (exit code 2, no traceback)."""
    done = _run(args, overrides, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr  # a URL's password is never echoed
    [line] = [line for line in done.stderr.splitlines() if not line.startswith("{")]  # JSON logs aside
    return line


@pytest.mark.parametrize("case", list(CASES))
def test_a_misconfigured_process_says_what_to_fix_in_one_line(case: str, tmp_path: Path) -> None:
    args, overrides, expected = CASES[case]
    line = _refusal(args, overrides, tmp_path)
    for text in expected:
        assert text in line


@pytest.mark.parametrize(("module", "setting"), [("spectral_api", "API"), ("spectral_otel_ingest", "INGEST")])
def test_a_server_whose_port_is_taken_names_the_setting_that_moves_it(
    module: str, setting: str, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        line = _refusal(["-m", module, "--port", str(port)], {}, tmp_path)
    assert line == (
        f"{module}: 127.0.0.1:{port} is in use (another Spectral, or another server): "
        f"choose another port with --port or SPECTRAL_{setting}_PORT"
    )


def test_servers_and_the_worker_refuse_a_database_not_yet_migrated(tmp_path: Path) -> None:
    # `make migrate` forgotten: the API would answer every request 500 behind a health check saying ok.
    with fresh_database() as database_url:
        env = production_env(database_url, tmp_path)
        overrides = {k: v for k, v in env.items() if k.startswith("SPECTRAL_")}
        for args, prog in (
            (API, "spectral_api"),
            (INGEST, "spectral_otel_ingest"),
            (WORKER, "spectral-worker"),
        ):
            line = _refusal(args, overrides, tmp_path)
            assert (
                line
                == f"{prog}: the database has no schema yet: run `spectral-admin migrate` (`make migrate`) first"
            )


def test_a_misspelt_setting_is_warned_about_with_the_one_it_looks_like(tmp_path: Path) -> None:
    # It is not refused (a deployment may set variables for other tools), but it is not silent.
    done = _run([*ADMIN, "migrate"], {"SPECTRAL_REDIS": "redis://127.0.0.1:6379/0"}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (
        "spectral-admin: warning: SPECTRAL_REDIS is not a setting and is ignored "
        "(did you mean SPECTRAL_REDIS_URL?)"
    ) in done.stderr.splitlines()
