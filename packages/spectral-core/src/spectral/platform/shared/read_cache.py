"""In-process caches of hot reads (an API key's grant, a user token's grant, an agent's runtime
config), invalidated per owner by the writes themselves, in every process.

An *owner* is the id whose generation a change moves: a workspace (its keys, configs, its own
deletion) or a user (their activity, token generation, logouts and memberships: these are not
workspace-scoped, and one user's change must not invalidate a whole workspace's caches, nor can a
user's change find every workspace the user's cached grants name). Both are UUIDs and never
collide, so one generation map holds both.

The bounded contexts declare which columns of which models the caches depend on (`watch`). Any
session that flushes a change to one of them marks the row's owner as changed; on PostgreSQL it
also sends `NOTIFY spectral_workspace_changes` inside the same transaction, so the notice is
delivered to every process exactly when the write commits, and never for a write that rolled back.
A change no watched row carries (a token's revocation, kept in Redis or in a table without the
user) is marked with `invalidate`. After the commit the writing process bumps the owner's
generation in its own `Generations` at once; every other process bumps it when the notice arrives
(`listen_for_changes`).

A cached value is served only while the generations of all its owners are the ones it was filled
under, and only while the process is *in sync*: on PostgreSQL while the listener's connection has
answered within `STALE_AFTER_S`. SQLite has no channel between processes, and the embedded server
is not the only one writing its file (`spectral-admin deactivate-user` is another process), so
there a value is served for at most `EMBEDDED_MAX_AGE_S` after it was read: another process's
change is seen within that, and the server's own changes at once, as on PostgreSQL. A process whose listener is down reads through to the database instead of serving
what it cannot vouch for, and forgets everything when it reconnects (notices sent meanwhile are
lost).
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
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, attributes

log = logging.getLogger("spectral.read_cache")

# Named when only workspaces had generations; kept, so that during a rolling upgrade processes of
# both versions still hear each other's workspace changes (an older process does not announce user
# changes: finish an upgrade before relying on a deactivation or role change).
CHANNEL = "spectral_workspace_changes"
# The listener proves its connection alive this often; a process that has not heard from it for
# STALE_AFTER_S stops trusting its caches (the bound on how late a change can be seen).
HEARTBEAT_S = 0.2
STALE_AFTER_S = 0.6
EMBEDDED_MAX_AGE_S = 1.0
RECONNECT_BACKOFF_S = (0.1, 0.5, 1.0, 2.0)
_CHANGED_KEY = "spectral.changed_owners"
GENERATIONS_KEY = "spectral.generations"


@dataclass(frozen=True, slots=True)
class _Watch:
    columns: tuple[str, ...]
    owner: Callable[[Any], uuid.UUID | None]
    inserts: bool


_WATCHED: dict[type, _Watch] = {}


def watch(
    model: type,
    *,
    columns: Iterable[str],
    owner: Callable[[Any], uuid.UUID | None],
    inserts: bool = False,
) -> None:
    """Caches depend on these `columns` of `model`: a change to one of them (or the row's deletion)
    invalidates what is cached for the row's `owner` (a workspace or a user). `inserts`: a new row
    changes what is cached too (a membership that grants more); otherwise nothing cached can
    depend on a row that did not exist."""
    _WATCHED[model] = _Watch(tuple(columns), owner, inserts)


def _changed_owners(session: Session) -> set[uuid.UUID]:
    found: list[uuid.UUID | None] = []
    for obj in session.dirty:
        watched = _WATCHED.get(type(obj))
        if watched is not None and any(
            attributes.get_history(obj, name).has_changes() for name in watched.columns
        ):
            found.append(watched.owner(obj))
    for obj in session.deleted:
        watched = _WATCHED.get(type(obj))
        if watched is not None:
            found.append(watched.owner(obj))
    for obj in session.new:
        watched = _WATCHED.get(type(obj))
        if watched is not None and watched.inserts:
            found.append(watched.owner(obj))
    return {owner for owner in found if owner is not None}


def _mark(session: Session, changed: set[uuid.UUID]) -> None:
    """Bump `changed` in this process when the session commits; notify every other process as
    part of the same transaction (PostgreSQL)."""
    session.info.setdefault(_CHANGED_KEY, set()).update(changed)
    if session.get_bind().dialect.name == "postgresql":
        connection = session.connection()
        for owner in sorted(changed, key=str):
            connection.execute(sa.select(sa.func.pg_notify(CHANNEL, str(owner))))


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _flush_context: Any, _instances: Any) -> None:
    changed = _changed_owners(session)
    if changed:
        _mark(session, changed)


async def invalidate(session: AsyncSession, owner: uuid.UUID) -> None:
    """What is cached for `owner` is stale once `session` commits, for a change that no watched
    row carries (a token's revocation)."""
    await session.run_sync(_mark, {owner})


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
    """Per-owner generations of this process. `epoch` moves on every bump, so a fill that began
    before any bump can tell (see `ReadCache.put`)."""

    def __init__(self, *, needs_listener: bool) -> None:
        self._by_owner: dict[uuid.UUID, int] = {}
        self._resets = 0
        self.epoch = 0
        self._needs_listener = needs_listener
        self._synced_at = float("-inf")
        self.max_age_s: float | None = None if needs_listener else EMBEDDED_MAX_AGE_S
        """How long a cached value may be served after it was read; None: for as long as its
        generations hold (a listener hears every other process's change)."""

    def stamp(self, owners: tuple[uuid.UUID, ...]) -> tuple[int, ...]:
        return (self._resets, *(self._by_owner.get(owner, 0) for owner in owners))

    def bump(self, owners: Iterable[uuid.UUID]) -> None:
        for owner in owners:
            self._by_owner[owner] = self._by_owner.get(owner, 0) + 1
        self.epoch += 1

    def reset(self) -> None:
        """Every cached value is stale (notices may have been missed)."""
        self._resets += 1
        self._by_owner.clear()
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
    owners: tuple[uuid.UUID, ...]
    stamp: tuple[int, ...]
    filled_at: float


class ReadCache(Generic[K, V]):
    """A bounded map whose entries are valid while the generations of their owners are unchanged.

    Fill protocol: `token = cache.fill_token()` *before* reading the database, then
    `cache.put(key, owners, value, token)`; a put after any bump since the token is dropped,
    since the read may have seen the row before the change that bumped it."""

    def __init__(self, generations: Generations, *, max_entries: int) -> None:
        self._generations = generations
        self._max_entries = max_entries
        self._entries: dict[K, _Entry[V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        generations = self._generations
        if not generations.in_sync or entry.stamp != generations.stamp(entry.owners):
            return None
        if generations.max_age_s is not None and time.monotonic() - entry.filled_at > generations.max_age_s:
            return None
        return entry.value

    def fill_token(self) -> int:
        return self._generations.epoch

    def put(self, key: K, owners: tuple[uuid.UUID, ...], value: V, token: int) -> None:
        if token != self._generations.epoch or not self._generations.in_sync:
            return
        if key not in self._entries and len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest fill
        self._entries[key] = _Entry(value, owners, self._generations.stamp(owners), time.monotonic())

    def replace(self, key: K, value: V) -> None:
        """Store a newer `value` for a still valid entry (e.g. after this process wrote it)."""
        entry = self._entries.get(key)
        if entry is not None and entry.stamp == self._generations.stamp(entry.owners):
            entry.value = value

    def __len__(self) -> int:
        return len(self._entries)


def _conninfo(database_url: str) -> str:
    return sa.make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_for_changes(database_url: str, generations: Generations) -> None:
    """Run for the process's lifetime (cancel to stop): LISTEN on its own PostgreSQL connection,
    bump the generation of every owner a notice names, and prove the connection alive every
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
