"""Pooled connections are not pinged at checkout: one the server dropped fails its request with a
503 to retry (never a 500), and the next request gets a fresh connection."""

from __future__ import annotations

import httpx
import psycopg

from conftest import LiveApi
from testenv import PG_ADMIN_DSN

PASSWORD = "correct horse battery staple"


def test_a_dropped_connection_is_a_503_then_the_pool_recovers(live_api: LiveApi) -> None:
    with httpx.Client(base_url=live_api.url, timeout=60) as http:
        registered = http.post(
            "/api/v1/auth/register",
            json={"email": "owner@example.com", "password": PASSWORD, "tenant_name": "Acme"},
        )
        assert registered.status_code == 201, registered.text
        user = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        assert http.get("/api/v1/auth/me", headers=user).status_code == 200

        database = live_api.settings.resolved_database_url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            # Every connection of the API's pool (its change listener reconnects by itself).
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )

        lost = http.get("/api/v1/auth/me", headers=user)
        assert lost.status_code == 503, lost.text
        assert lost.headers["content-type"] == "application/problem+json"
        assert lost.headers["retry-after"] == "1"
        assert lost.json()["title"] == "Service Unavailable"
        assert http.get("/api/v1/auth/me", headers=user).status_code == 200
