"""Refusing to start in one line. A process whose settings are wrong, or whose database or Redis
cannot be reached, says which setting or service and what to do on stderr and exits with code 2,
instead of a traceback: `spectral-admin`, the API, the ingest service and the worker alike."""

from __future__ import annotations

import difflib
import errno
import os
import socket
import sys
from collections.abc import Iterator, Mapping
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


_PREFIX = "SPECTRAL_"
# SPECTRAL_ variables that are not server settings: the `spectral` client's, the API's hand-off to
# its uvicorn workers, and the test and benchmark harnesses'.
_OTHER_VARIABLES = frozenset(
    {"SPECTRAL_SERVER", "SPECTRAL_TOKEN", "SPECTRAL_PROFILE", "SPECTRAL_WORKSPACE", "SPECTRAL_PASSWORD"}
    | {"SPECTRAL_CONFIG_DIR", "SPECTRAL_SERVED_APP_FACTORY"}
)
_OTHER_PREFIXES = ("SPECTRAL_TEST_", "SPECTRAL_BENCH_")


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """A line for each SPECTRAL_ variable no setting reads (a typo is otherwise ignored in silence),
    naming the setting it most looks like."""
    fields = [field.upper() for field in Settings.model_fields]
    names = {f"{_PREFIX}{field}" for field in fields}
    lines = []
    for variable in sorted(environ):
        upper = variable.upper()
        if (
            not upper.startswith(_PREFIX)
            or upper in names
            or upper in _OTHER_VARIABLES
            or upper.startswith(_OTHER_PREFIXES)
        ):
            continue
        # Compared without the prefix, which every name shares and which would make all look alike.
        close = difflib.get_close_matches(upper.removeprefix(_PREFIX), fields, n=1, cutoff=0.7)
        hint = f" (did you mean {_PREFIX}{close[0]}?)" if close else ""
        lines.append(f"{variable} is not a setting and is ignored{hint}")
    return lines


@contextmanager
def refuse_to_start(prog: str) -> Iterator[None]:
    """Around what a process does before it serves: a startup problem exits with one line. A
    SPECTRAL_ variable that no setting reads is warned about first (it does not stop the process:
    a deployment may set variables for other tools)."""
    for line in unknown_settings(os.environ):
        print(f"{prog}: warning: {line}", file=sys.stderr)
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
