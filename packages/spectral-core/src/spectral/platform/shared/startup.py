"""Refusing to start in one line. A process whose settings are wrong, or whose database or Redis
cannot be reached, says which setting or service and what to do on stderr and exits with code 2,
instead of a traceback: `spectral-admin`, the API, the ingest service and the worker alike."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions
import sqlalchemy as sa
from pydantic import ValidationError
from redis.asyncio import Redis

from spectral.platform.shared.settings import Settings, SettingsError

EXIT_CODE = 2  # a configuration to fix, like a bad command line


class StartupError(Exception):
    """The process cannot start: a service it needs did not answer, or its port is taken."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _settings_problem(exc: ValidationError) -> str:
    """`SPECTRAL_ENV: Input should be 'embedded', 'production' or 'test' (got 'prod')`."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        info = Settings.model_fields.get(field)
        # Secrets, and URLs that may carry a password, are never echoed.
        secret = (info is not None and "SecretStr" in str(info.annotation)) or field.endswith("_url")
        got = "" if secret or not field else f" (got {error['input']!r})"
        name = f"SPECTRAL_{field.upper()}: " if field else ""
        problems.append(f"{name}{error['msg'].removeprefix('Value error, ')}{got}")
    return "invalid settings: " + "; ".join(problems)


def _database_problem(exc: sa.exc.SQLAlchemyError) -> str:
    reason = _one_line(getattr(exc, "orig", None) or exc)
    if "does not exist" in reason and "database" in reason:
        hint = "create it first (e.g. `createdb NAME`), then run `spectral-admin migrate`"
    else:
        hint = "check SPECTRAL_DATABASE_URL (postgresql+psycopg://user:pass@host:5432/db) and that the server is up"
    return f"cannot use the database ({reason}): {hint}"


def startup_problem(exc: BaseException) -> str | None:
    """What stopped the process, in one line with what to do, or None for an error of another kind."""
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return _settings_problem(exc)
    if isinstance(exc, SettingsError):
        return str(exc)
    if isinstance(exc, sa.exc.OperationalError | sa.exc.ArgumentError):
        return _database_problem(exc)
    if isinstance(exc, StartupError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        # Creating the data directory, its SQLite file or its secret.
        return f"cannot use {exc.filename} ({exc.strerror}): check SPECTRAL_DATA_DIR (default ./.spectral)"
    return None


@contextmanager
def refuse_to_start(prog: str) -> Iterator[None]:
    """Around what a process does before it serves: a startup problem exits with one line."""
    try:
        yield
    except Exception as exc:
        message = startup_problem(exc)
        if message is None:
            raise
        print(f"{prog}: {message}", file=sys.stderr)
        raise SystemExit(EXIT_CODE) from None


async def reach_redis(redis_url: str) -> None:
    """Raise StartupError unless Redis at `redis_url` answers a PING."""
    try:
        client = Redis.from_url(redis_url)
    except ValueError as exc:
        raise StartupError(f"SPECTRAL_REDIS_URL is not a Redis URL ({exc}): use redis://host:6379/0") from exc
    try:
        await client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        raise StartupError(
            f"cannot reach Redis ({_one_line(exc)}): check SPECTRAL_REDIS_URL and that Redis is running"
        ) from exc
    finally:
        await client.aclose()


def check_port_free(host: str, port: int, setting: str) -> None:
    """Raise StartupError when `host:port` cannot be listened on, naming the setting that moves it
    (the server would otherwise log uvicorn's bind error and exit)."""
    if port == 0:
        return
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        taken = exc.errno == errno.EADDRINUSE
        why = (
            "is in use (another Spectral, or another server)"
            if taken
            else f"cannot be listened on ({exc.strerror})"
        )
        raise StartupError(f"{host}:{port} {why}: choose another port with --port or {setting}") from exc
