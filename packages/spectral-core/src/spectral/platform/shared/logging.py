"""Structured logging: one JSON object per line, with whatever `extra=` a call site adds and the
context of the work in hand — the request id inside a request, the job and scan ids inside a job —
on every line, including the lines of libraries called from there (context variables).

Third-party loggers that speak once per outbound call or per poll (httpx, httpcore, uvicorn's
access log, arq) stay at WARNING unless the level is DEBUG: one scan makes thousands of replay
calls, and those lines would bury the request log."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from spectral.platform.shared import metrics

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}
NOISY_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "arq")

_context: ContextVar[Mapping[str, str]] = ContextVar("spectral_log_context", default=MappingProxyType({}))
log = logging.getLogger("spectral.jobs")


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Every log line in this block (and in tasks and threads started from it) carries `fields`."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, str]:
    return _context.get()


class ContextFilter(logging.Filter):
    """Copies the current log context onto each record (a call site's own `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    debug = root.level <= logging.DEBUG
    # uvicorn's own dictConfig gives these loggers handlers of their own (and stops uvicorn.access
    # from propagating): every line goes through the one JSON handler instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.disabled = False
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)


JobCallable = Callable[..., Awaitable[Any]]
_JOB_KEYS = ("scan_id", "changeset_id", "run_id", "experiment_id")


def _count_job(name: str, outcome: str, elapsed_s: float) -> None:
    metrics.JOBS.labels(name, outcome).inc()
    metrics.JOB_DURATION.labels(name).observe(elapsed_s)


def logged_job(name: str, function: JobCallable) -> JobCallable:
    """A job function that logs its start and end (with its duration) as JSON lines, counts it in
    the job metrics, and runs with
    its job id, and the scan (or other subject) it works on, in the log context."""

    @functools.wraps(function)
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        subject = {key: kwargs[key] for key in _JOB_KEYS if key in kwargs}
        with log_context(job=name, job_id=ctx.get("job_id"), **subject):
            log.info("job started")
            started = time.perf_counter()
            try:
                result = await function(ctx, **kwargs)
            except BaseException as exc:
                elapsed = time.perf_counter() - started
                _count_job(name, type(exc).__name__, elapsed)
                log.warning(
                    "job ended",
                    extra={"outcome": type(exc).__name__, "duration_ms": round(elapsed * 1000, 2)},
                )
                raise
            elapsed = time.perf_counter() - started
            _count_job(name, "ok", elapsed)
            log.info("job finished", extra={"outcome": "ok", "duration_ms": round(elapsed * 1000, 2)})
            return result

    return run
