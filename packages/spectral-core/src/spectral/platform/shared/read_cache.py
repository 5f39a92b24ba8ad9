"""In-process caches of hot reads (an API key's grant, an agent's runtime config), invalidated per
workspace by the writes themselves, in every process.

The bounded contexts declare which columns of which models the caches depend on (`watch`). Any
session that flushes a change to one of them marks the row's workspace as changed; on PostgreSQL
it also sends `NOTIFY spectral_workspace_changes` inside the same transaction, so the notice is
delivered to every process exactly when the write commits, and never for a write that rolled back.
After the commit the writing process bumps the workspace's generation in its own `Generations` at
once; every other process bumps it when the notice arrives (`listen_for_changes`).

A cached value is served only while its workspace's generation is the one it was filled under,
and only while the process is *in sync*: always with SQLite (the embedded default is one process),
and on PostgreSQL only while the listener's connection has answered within `STALE_AFTER_S`. A
process whose listener is down reads through to the database instead of serving what it cannot
vouch for, and forgets everything when it reconnects (notices sent meanwhile are lost).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, attributes

log = logging.getLogger("spectral.read_cache")

CHANNEL = "spectral_workspace_changes"
# The listener proves its connection alive this often; a process that has not heard from it for
# STALE_AFTER_S stops trusting its caches (the bound on how late a change can be seen).
HEARTBEAT_S = 0.2
STALE_AFTER_S = 0.6
RECONNECT_BACKOFF_S = (0.1, 0.5, 1.0, 2.0)
_CHANGED_KEY = "spectral.changed_workspaces"
GENERATIONS_KEY = "spectral.generations"


@dataclass(frozen=True, slots=True)
class _Watch:
    columns: tuple[str, ...]
    workspace: Callable[[Any], uuid.UUID | None]


_WATCHED: dict[type, _Watch] = {}


def watch(model: type, *, columns: Iterable[str], workspace: Callable[[Any], uuid.UUID | None]) -> None:
    """Caches depend on these `columns` of `model`: a change to one of them (or the row's deletion)
    invalidates what is cached for the row's `workspace`. Inserts need nothing: nothing cached can
    depend on a row that did not exist."""
    _WATCHED[model] = _Watch(tuple(columns), workspace)


def _changed_workspaces(session: Session) -> set[uuid.UUID]:
    changed: set[uuid.UUID] = set()
    for obj in session.dirty:
        watched = _WATCHED.get(type(obj))
        if watched is None:
            continue
        if any(attributes.get_history(obj, name).has_changes() for name in watched.columns):
            found = watched.workspace(obj)
            if found is not None:
                changed.add(found)
    for obj in session.deleted:
        watched = _WATCHED.get(type(obj))
        found = None if watched is None else watched.workspace(obj)
        if found is not None:
            changed.add(found)
    return changed


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _flush_context: Any, _instances: Any) -> None:
    changed = _changed_workspaces(session)
    if not changed:
        return
    session.info.setdefault(_CHANGED_KEY, set()).update(changed)
    if session.get_bind().dialect.name == "postgresql":
        connection = session.connection()
        for workspace_id in sorted(changed, key=str):
            connection.execute(sa.select(sa.func.pg_notify(CHANNEL, str(workspace_id))))


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    changed: set[uuid.UUID] = session.info.pop(_CHANGED_KEY, set())
    generations = session.info.get(GENERATIONS_KEY)
    if changed and isinstance(generations, Generations):
        generations.bump(changed)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_CHANGED_KEY, None)


class Generations:
    """Per-workspace generations of this process. `epoch` moves on every bump, so a fill that began
    before any bump can tell (see `ReadCache.put`)."""

    def __init__(self, *, needs_listener: bool) -> None:
        self._by_workspace: dict[uuid.UUID, int] = {}
        self._resets = 0
        self.epoch = 0
        self._needs_listener = needs_listener
        self._synced_at = float("-inf")

    def stamp(self, workspace_id: uuid.UUID) -> tuple[int, int]:
        return self._resets, self._by_workspace.get(workspace_id, 0)

    def bump(self, workspace_ids: Iterable[uuid.UUID]) -> None:
        for workspace_id in workspace_ids:
            self._by_workspace[workspace_id] = self._by_workspace.get(workspace_id, 0) + 1
        self.epoch += 1

    def reset(self) -> None:
        """Every cached value is stale (notices may have been missed)."""
        self._resets += 1
        self._by_workspace.clear()
        self.epoch += 1

    def synced(self) -> None:
        self._synced_at = time.monotonic()

    @property
    def in_sync(self) -> bool:
        return not self._needs_listener or time.monotonic() - self._synced_at < STALE_AFTER_S


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    workspace_id: uuid.UUID
    stamp: tuple[int, int]


class ReadCache(Generic[K, V]):
    """A bounded map whose entries are valid while their workspace's generation is unchanged.

    Fill protocol: `token = cache.fill_token()` *before* reading the database, then
    `cache.put(key, workspace_id, value, token)`; a put after any bump since the token is dropped,
    since the read may have seen the row before the change that bumped it."""

    def __init__(self, generations: Generations, *, max_entries: int) -> None:
        self._generations = generations
        self._max_entries = max_entries
        self._entries: dict[K, _Entry[V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not self._generations.in_sync or entry.stamp != self._generations.stamp(entry.workspace_id):
            return None
        return entry.value

    def fill_token(self) -> int:
        return self._generations.epoch

    def put(self, key: K, workspace_id: uuid.UUID, value: V, token: int) -> None:
        if token != self._generations.epoch or not self._generations.in_sync:
            return
        if key not in self._entries and len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest fill
        self._entries[key] = _Entry(value, workspace_id, self._generations.stamp(workspace_id))

    def replace(self, key: K, value: V) -> None:
        """Store a newer `value` for a still valid entry (e.g. after this process wrote it)."""
        entry = self._entries.get(key)
        if entry is not None and entry.stamp == self._generations.stamp(entry.workspace_id):
            entry.value = value

    def __len__(self) -> int:
        return len(self._entries)


def _conninfo(database_url: str) -> str:
    return sa.make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_for_changes(database_url: str, generations: Generations) -> None:
    """Run for the process's lifetime (cancel to stop): LISTEN on its own PostgreSQL connection,
    bump the generation of every workspace a notice names, and prove the connection alive every
    `HEARTBEAT_S`. Reconnects after any failure; until then the caches are bypassed."""
    failures = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                _conninfo(database_url), autocommit=True
            ) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                generations.reset()
                generations.synced()
                failures = 0
                while True:
                    async for notice in conn.notifies(timeout=HEARTBEAT_S):
                        try:
                            generations.bump([uuid.UUID(notice.payload)])
                        except ValueError:
                            generations.reset()
                        generations.synced()
                    await conn.execute("SELECT 1")
                    generations.synced()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
            failures += 1
            log.warning("change listener lost its connection; retrying", extra={"error": str(exc)})
            await asyncio.sleep(delay)
