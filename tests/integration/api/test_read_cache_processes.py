"""Two API processes on one PostgreSQL (and Redis, as production runs them): what one process
writes (a revoked key, a promoted or rolled-back config, a logout, a membership removed or
lowered, a user deactivated, a workspace deleted, an agent created, renamed, deleted or made to
score online) is what the other answers within a second, even though both cache API-key grants,
user tokens' grants, runtime configs and the agents ingest resolves in memory."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from processes import Process, free_port, fresh_database, production_env, wait_http
from spectral.platform.migrations.runner import upgrade

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
CONFIG = {"model": "gpt-4o", "params": {}, "templates": {"system": "You are terse."}, "tools": []}
# The bound the caches promise: a request sent this long after a write sees it, in every process.
WITHIN_S = 1.0


@pytest.fixture
def two_apis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Production settings; parametrized "database" (indirectly): without Redis, so that revoked
    tokens are kept in the database (a test-mode server: production requires Redis)."""
    with fresh_database() as url:
        upgrade(url)
        env = production_env(url, tmp_path)
        if getattr(request, "param", "redis") == "database":
            del env["SPECTRAL_REDIS_URL"]
            env["SPECTRAL_ENV"] = "test"
        env = {
            **env,
            # The cheapest hashing production allows: this test is about caches, not argon2.
            "SPECTRAL_ARGON2_TIME_COST": "2",
            "SPECTRAL_ARGON2_MEMORY_KIB": "19456",
            "SPECTRAL_ARGON2_PARALLELISM": "1",
        }
        processes: list[Process] = []
        try:
            urls = []
            for name in ("api-a", "api-b"):
                port = free_port()
                process = Process(name, ["-m", "spectral_api", "--port", str(port)], env, tmp_path)
                processes.append(process)
                urls.append(f"http://127.0.0.1:{port}")
            for process, base in zip(processes, urls, strict=True):
                wait_http(f"{base}/api/v1/health", process)
            yield urls[0], urls[1], url
        finally:
            for process in processes:
                process.stop()


def _seen_within_bound(
    get: Callable[[], httpx.Response], written_at: float, done: Callable[[httpx.Response], bool]
) -> None:
    """Poll until `done`; every answer that is not yet `done` must come from a request sent less
    than WITHIN_S after the write."""
    while True:
        sent = time.monotonic()
        response = get()
        if done(response):
            return
        assert sent - written_at < WITHIN_S, (
            f"still stale {sent - written_at:.2f}s after the write: {response.text}"
        )
        time.sleep(0.02)


def _register_owner(client: httpx.Client) -> dict[str, str]:
    registered = client.post(
        "/api/v1/auth/register",
        json={"email": "owner@example.com", "password": PASSWORD, "tenant_name": "Acme"},
    )
    assert registered.status_code == 201, registered.text
    return dict(registered.json())


def test_revoke_promote_and_rollback_reach_the_other_process(two_apis: tuple[str, str, str]) -> None:
    a_url, b_url, database_url = two_apis
    with httpx.Client(base_url=a_url, timeout=60) as a, httpx.Client(base_url=b_url, timeout=60) as b:
        owner = _register_owner(a)
        ws = f"/api/v1/workspaces/{owner['workspace_id']}"
        user = {"Authorization": f"Bearer {owner['access_token']}"}
        agent = a.post(f"{ws}/agents", json={"name": "A", "slug": "a", "config": CONFIG}, headers=user).json()
        created = a.post(
            f"{ws}/keys", json={"name": "runtime", "scopes": ["read:agents"]}, headers=user
        ).json()
        key = {"Authorization": f"Bearer {created['key']}"}
        url = f"{ws}/agents/{agent['id']}/config"

        # B caches the key's grant and the config (several reads: the cache is filled and served).
        for _ in range(5):
            first = b.get(url, headers=key)
            assert first.status_code == 200, first.text
        etag_1 = first.headers["etag"]
        # Proof that B serves from its cache: a change made behind the application's back (raw
        # SQL, no notice) is not seen; only the application's own writes invalidate.
        with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("UPDATE agents SET active_etag = 'behind-the-back' WHERE id = %s", (agent["id"],))
        assert b.get(url, headers=key).headers["etag"] == etag_1
        assert (
            a.post(
                f"{ws}/agents/{agent['id']}/versions", json={**CONFIG, "model": "gpt-4o-mini"}, headers=user
            ).status_code
            == 201
        )
        assert b.get(url, headers=key).headers["etag"] == etag_1  # a new version is not active yet

        promoted = a.post(f"{ws}/agents/{agent['id']}/versions/2/promote", headers=user)
        assert promoted.status_code == 200
        _seen_within_bound(
            lambda: b.get(url, headers=key), time.monotonic(), lambda r: r.headers["etag"] != etag_1
        )
        now_2 = b.get(url, headers={**key, "If-None-Match": etag_1})
        assert now_2.status_code == 200
        assert now_2.json()["version"] == 2
        assert now_2.json()["model"] == "gpt-4o-mini"
        etag_2 = now_2.headers["etag"]

        rolled_back = a.post(f"{ws}/agents/{agent['id']}/versions/1/promote", headers=user)
        assert rolled_back.status_code == 200
        _seen_within_bound(
            lambda: b.get(url, headers=key), time.monotonic(), lambda r: r.headers["etag"] == etag_1
        )
        assert b.get(url, headers={**key, "If-None-Match": etag_2}).json()["version"] == 1
        assert b.get(url, headers={**key, "If-None-Match": etag_1}).status_code == 304

        revoked = a.delete(f"{ws}/keys/{created['key_id']}", headers=user)
        assert revoked.status_code == 204
        _seen_within_bound(lambda: b.get(url, headers=key), time.monotonic(), lambda r: r.status_code == 401)
        refused = b.get(url, headers=key)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert a.get(url, headers=key).status_code == 401


def _raw(database_url: str, sql: str, *params: object) -> None:
    """A change behind the application's back: no notice, so no cache hears of it."""
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql, params)


def _deactivate(database_url: str, email: str, tmp_path: Path) -> None:
    """The operator's tool, as a process of its own (the API has no deactivation)."""
    env = {**production_env(database_url, tmp_path), "SPECTRAL_ENV": "test"}
    subprocess.run(
        [sys.executable, "-m", "spectral.platform.admin_cli", "deactivate-user", email], env=env, check=True
    )


@pytest.mark.parametrize("two_apis", ["redis", "database"], indirect=True)
def test_user_token_changes_reach_the_other_process(two_apis: tuple[str, str, str], tmp_path: Path) -> None:
    a_url, b_url, database_url = two_apis
    with httpx.Client(base_url=a_url, timeout=60) as a, httpx.Client(base_url=b_url, timeout=60) as b:
        owner = _register_owner(a)
        account_id, workspace_id = owner["account_id"], owner["workspace_id"]
        ws = f"/api/v1/workspaces/{workspace_id}"
        owner_auth = {"Authorization": f"Bearer {owner['access_token']}"}
        agent = a.post(f"{ws}/agents", json={"name": "A", "slug": "a"}, headers=owner_auth).json()
        agent_url = f"{ws}/agents/{agent['id']}"

        # Users of their own tenants, then made members of Acme's workspace (set-up only: nothing
        # is cached for them before they belong).
        members: dict[str, dict[str, str]] = {}
        for name, role in (("removed", "editor"), ("lowered", "editor"), ("deactivated", "viewer")):
            registered = a.post(
                "/api/v1/auth/register",
                json={"email": f"{name}@example.com", "password": PASSWORD, "tenant_name": name},
            ).json()
            _raw(
                database_url,
                "INSERT INTO account_members (account_id, user_id, role, created_at)"
                " VALUES (%s, %s, 'member', now())",
                account_id,
                registered["user_id"],
            )
            _raw(
                database_url,
                "INSERT INTO workspace_members (workspace_id, user_id, role, created_at)"
                " VALUES (%s, %s, %s, now())",
                workspace_id,
                registered["user_id"],
                role,
            )
            members[name] = {
                "id": registered["user_id"],
                "Authorization": f"Bearer {registered['access_token']}",
            }
        auth = {name: {"Authorization": m["Authorization"]} for name, m in members.items()}
        second = a.post("/api/v1/auth/login", json={"email": "owner@example.com", "password": PASSWORD})
        logged_out = {"Authorization": f"Bearer {second.json()['access_token']}"}

        # B caches every token's grant (several reads: the cache is filled and served).
        for _ in range(3):
            for headers in (owner_auth, logged_out, *auth.values()):
                assert b.get(agent_url, headers=headers).status_code == 200
            assert b.patch(agent_url, json={"description": "x"}, headers=auth["lowered"]).status_code == 200
        # Proof that B serves from its cache: a deactivation behind the application's back is not
        # seen; only the application's own writes invalidate.
        _raw(database_url, "UPDATE users SET is_active = false WHERE id = %s", members["deactivated"]["id"])
        assert b.get(agent_url, headers=auth["deactivated"]).status_code == 200
        _raw(database_url, "UPDATE users SET is_active = true WHERE id = %s", members["deactivated"]["id"])

        assert a.post("/api/v1/auth/logout", headers=logged_out).status_code == 204
        _seen_within_bound(
            lambda: b.get(agent_url, headers=logged_out), time.monotonic(), lambda r: r.status_code == 401
        )
        assert b.get(agent_url, headers=owner_auth).status_code == 200  # the owner's other token

        removed = a.delete(f"{ws}/members/{members['removed']['id']}", headers=owner_auth)
        assert removed.status_code == 204
        _seen_within_bound(
            lambda: b.get(agent_url, headers=auth["removed"]),
            time.monotonic(),
            lambda r: r.status_code == 404,
        )

        lowered = a.patch(
            f"{ws}/members/{members['lowered']['id']}", json={"role": "viewer"}, headers=owner_auth
        )
        assert lowered.status_code == 200
        _seen_within_bound(
            lambda: b.patch(agent_url, json={"description": "x"}, headers=auth["lowered"]),
            time.monotonic(),
            lambda r: r.status_code == 403,
        )
        assert b.get(agent_url, headers=auth["lowered"]).status_code == 200  # a viewer still reads

        _deactivate(database_url, "deactivated@example.com", tmp_path)
        _seen_within_bound(
            lambda: b.get(agent_url, headers=auth["deactivated"]),
            time.monotonic(),
            lambda r: r.status_code == 401,
        )

        assert a.delete(ws, headers=owner_auth).status_code == 204
        _seen_within_bound(
            lambda: b.get(agent_url, headers=owner_auth), time.monotonic(), lambda r: r.status_code == 404
        )
        for refused in (
            b.get(agent_url, headers=logged_out),
            b.get(agent_url, headers=auth["removed"]),
            b.get(agent_url, headers=auth["deactivated"]),
        ):
            assert refused.headers["content-type"] == "application/problem+json"


def _ingest(client: httpx.Client, ws: str, headers: dict[str, str], agent_key: str) -> str:
    """One span of a new trace naming `agent_key` (native ingest); the trace's id."""
    trace_id = uuid.uuid4().hex
    start = datetime.now(UTC) - timedelta(minutes=5)
    span: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": uuid.uuid4().hex[:16],
        "name": "chat",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(milliseconds=300)).isoformat(),
        "attributes": {"spectral.agent.name": agent_key},
    }
    response = client.post(f"{ws}/traces", json={"spans": [span]}, headers=headers)
    assert response.status_code == 200, response.text
    return trace_id


def _trace(client: httpx.Client, ws: str, headers: dict[str, str], trace_id: str) -> dict[str, Any]:
    response = client.get(f"{ws}/traces/{trace_id}", headers=headers)
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def _resolves_within_bound(
    b: httpx.Client, ws: str, headers: dict[str, str], agent_key: str, expected: str | None
) -> None:
    """Spans naming `agent_key` ingested by B are resolved to the agent `expected` (None: to none)
    by every request sent WITHIN_S after the write."""
    written_at = time.monotonic()
    _seen_within_bound(
        lambda: b.get(f"{ws}/traces/{_ingest(b, ws, headers, agent_key)}", headers=headers),
        written_at,
        lambda r: r.json()["agent_id"] == expected,
    )


@pytest.mark.parametrize("two_apis", ["database"], indirect=True)
def test_agent_changes_reach_the_other_process_ingest(two_apis: tuple[str, str, str]) -> None:
    """B ingests (and, without Redis, runs the online-scoring jobs in process); A manages agents."""
    a_url, b_url, database_url = two_apis
    with httpx.Client(base_url=a_url, timeout=60) as a, httpx.Client(base_url=b_url, timeout=60) as b:
        owner = _register_owner(a)
        ws = f"/api/v1/workspaces/{owner['workspace_id']}"
        user = {"Authorization": f"Bearer {owner['access_token']}"}

        # B caches the workspace's agents: none, so "bot" resolves to nothing (several requests:
        # the cache is filled and served).
        for _ in range(3):
            assert _trace(b, ws, user, _ingest(b, ws, user, "bot"))["agent_id"] is None
        # Proof that B serves from its cache: an agent inserted behind the application's back is
        # not resolved; only the application's own writes invalidate.
        hidden = uuid.uuid4()
        _raw(
            database_url,
            "INSERT INTO agents (id, workspace_id, name, slug, online_sample_rate, created_by, created_at,"
            " updated_at) VALUES (%s, %s, 'bot', 'bot', 1, 'test', now(), now())",
            hidden,
            owner["workspace_id"],
        )
        assert _trace(b, ws, user, _ingest(b, ws, user, "bot"))["agent_id"] is None
        _raw(database_url, "DELETE FROM agents WHERE id = %s", hidden)

        created = a.post(f"{ws}/agents", json={"name": "Bot", "slug": "bot"}, headers=user)
        assert created.status_code == 201, created.text
        agent_id = created.json()["id"]
        _resolves_within_bound(b, ws, user, "bot", agent_id)
        assert _trace(b, ws, user, _ingest(b, ws, user, agent_id))["agent_id"] == agent_id  # by id

        renamed = a.patch(f"{ws}/agents/{agent_id}", json={"slug": "helper"}, headers=user)
        assert renamed.status_code == 200, renamed.text
        _resolves_within_bound(b, ws, user, "bot", None)
        assert _trace(b, ws, user, _ingest(b, ws, user, "helper"))["agent_id"] == agent_id

        # Made to score online on A: B's next ingests are scored (by B's in-process queue).
        rubric = a.post(
            f"{ws}/evaluations/rubrics",
            json={
                "name": "Online",
                "dimensions": [{"key": "ok", "scorer": {"type": "no_error"}, "threshold": 1}],
            },
            headers=user,
        )
        assert rubric.status_code == 201, rubric.text
        online = a.patch(
            f"{ws}/agents/{agent_id}", json={"online_rubric_id": rubric.json()["id"]}, headers=user
        )
        assert online.status_code == 200, online.text
        time.sleep(WITHIN_S)
        scored = _ingest(b, ws, user, "helper")
        deadline = time.monotonic() + 30
        while _trace(b, ws, user, scored)["score"] is None:
            assert time.monotonic() < deadline, "a trace ingested after the rubric was set was never scored"
            time.sleep(0.05)

        assert a.delete(f"{ws}/agents/{agent_id}", headers=user).status_code == 204
        _resolves_within_bound(b, ws, user, "helper", None)
