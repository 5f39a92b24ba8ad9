"""Structured logs: the context (request id, job, scan id) on every line, also from threads and
tasks started inside it; noisy third-party loggers at WARNING unless the level is DEBUG; a job's
start and end as lines of their own."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from spectral.platform.shared.logging import configure_logging, log_context, logged_job


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "arq", "uvicorn.access")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


@pytest.mark.usefixtures("restore_logging")
async def test_context_reaches_threads_and_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    log = logging.getLogger("spectral.test")
    with log_context(request_id="req-1"):
        log.info("in request")
        with log_context(scan_id="scan-9"):
            await asyncio.to_thread(log.info, "in a thread")
            await asyncio.create_task(asyncio.to_thread(log.info, "in a task's thread"))
            log.info("own extra wins", extra={"scan_id": "explicit"})
    log.info("outside")
    logged = lines(capsys.readouterr().err)
    assert [(x["message"], x.get("request_id"), x.get("scan_id")) for x in logged] == [
        ("in request", "req-1", None),
        ("in a thread", "req-1", "scan-9"),
        ("in a task's thread", "req-1", "scan-9"),
        ("own extra wins", "req-1", "explicit"),
        ("outside", None, None),
    ]


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(("level", "shown"), [("INFO", False), ("DEBUG", True)])
def test_third_party_loggers_quiet_unless_debug(
    capsys: pytest.CaptureFixture[str], level: str, shown: bool
) -> None:
    configure_logging(level)
    for name in ("httpx", "httpcore.connection", "arq.worker", "uvicorn.access"):
        logging.getLogger(name).info("chatter")
        logging.getLogger(name).warning("trouble")
    logged = lines(capsys.readouterr().err)
    assert sum(x["message"] == "trouble" for x in logged) == 4
    assert sum(x["message"] == "chatter" for x in logged) == (4 if shown else 0)


@pytest.mark.usefixtures("restore_logging")
async def test_a_job_logs_its_start_and_end_with_its_subject(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")

    async def scan(ctx: dict[str, Any], *, scan_id: str) -> str:
        logging.getLogger("spectral.scans").info("working")
        return "done"

    async def broken(ctx: dict[str, Any], *, scan_id: str) -> None:
        raise RuntimeError("boom")

    assert await logged_job("run_scan", scan)({"job_id": "j1"}, scan_id="s1") == "done"
    with pytest.raises(RuntimeError):
        await logged_job("run_scan", broken)({"job_id": "j2"}, scan_id="s2")
    logged = lines(capsys.readouterr().err)
    assert [(x["message"], x["job"], x["job_id"], x["scan_id"], x.get("outcome")) for x in logged] == [
        ("job started", "run_scan", "j1", "s1", None),
        ("working", "run_scan", "j1", "s1", None),
        ("job finished", "run_scan", "j1", "s1", "ok"),
        ("job started", "run_scan", "j2", "s2", None),
        ("job ended", "run_scan", "j2", "s2", "RuntimeError"),
    ]
    assert all(
        isinstance(x["duration_ms"], float)
        for x in logged
        if x["message"].startswith("job e") or x["message"] == "job finished"
    )
