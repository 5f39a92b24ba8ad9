"""Two API processes on one PostgreSQL (and Redis, as production runs them): what one process
writes (a revoked key, a promoted or rolled-back config, a logout, a membership removed or
lowered, a user deactivated, a workspace deleted) is what the other answers within a second, even
though both cache API-key grants, user tokens' grants and runtime configs in memory."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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


def test_revoke_promote_and_rollback_reach_the_other_process(two_apis: tuple[str, str, str]) -> None:
    a_url, b_url, database_url = two_apis
    with httpx.Client(base_url=a_url, timeout=60) as a, httpx.Client(base_url=b_url, timeout=60) as b:
        registered = a.post(
            "/api/v1/auth/register",
            json={"email": "owner@example.com", "password": PASSWORD, "tenant_name": "Acme"},
        )
        assert registered.status_code == 201, registered.text
        ws = f"/api/v1/workspaces/{registered.json()['workspace_id']}"
        user = {"Authorization": f"Bearer {registered.json()['access_token']}"}
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
        owner = a.post(
            "/api/v1/auth/register",
            json={"email": "owner@example.com", "password": PASSWORD, "tenant_name": "Acme"},
        ).json()
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
