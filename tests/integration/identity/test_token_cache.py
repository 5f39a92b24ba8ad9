"""The user-token cache (`access.UserCache`) in one process, the embedded default: every change that
takes access away is refused by the very next request. On SQLite the cache is trusted for up to a second; on
PostgreSQL without its listener it is bypassed, so the same answers come from the database."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from fixtures_identity import TEST_PASSWORD, Tenant, bearer
from spectral.platform.identity.models import User
from spectral.platform.identity.operators import set_user_active
from spectral.platform.shared.db import Database
from spectral.platform.shared.read_cache import EMBEDDED_MAX_AGE_S

pytestmark = pytest.mark.both_backends


async def _user_id(client: httpx.AsyncClient, headers: dict[str, str]) -> uuid.UUID:
    me = await client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200, me.text
    return uuid.UUID(me.json()["id"])


async def test_what_takes_access_away_is_refused_by_the_next_request(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, backend: str
) -> None:
    created = await client.post(
        f"{tenant.ws}/agents", json={"name": "A", "slug": "a"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    url = f"{tenant.ws}/agents/{created.json()['id']}"
    removed, lowered, deactivated = (
        await tenant.member("editor"),
        await tenant.member("editor"),
        await tenant.member("viewer"),
    )
    second = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password}
    )
    logged_out = bearer(second.json()["access_token"])
    for headers in (tenant.headers, logged_out, removed, lowered, deactivated):
        assert (await client.get(url, headers=headers)).status_code == 200
    assert (await client.patch(url, json={"description": "x"}, headers=lowered)).status_code == 200

    deactivated_id = await _user_id(client, deactivated)
    if backend == "sqlite":
        # Served from the cache: a bulk update (no ORM change the caches watch, as from another
        # process) is not seen while the entry is young enough...
        assert len(tenant.state.user_cache) >= 5
        db.generations.max_age_s = 3600.0
        async with db.session() as session:
            await session.exec(sa.update(User).where(col(User.id) == deactivated_id).values(is_active=False))
        assert (await client.get(url, headers=deactivated)).status_code == 200
        # ...and is once it is older than the embedded bound (no channel between SQLite processes).
        db.generations.max_age_s = 0.0
        assert (await client.get(url, headers=deactivated)).status_code == 401
        db.generations.max_age_s = EMBEDDED_MAX_AGE_S
        async with db.session() as session:
            await session.exec(sa.update(User).where(col(User.id) == deactivated_id).values(is_active=True))

    assert (await client.post("/api/v1/auth/logout", headers=logged_out)).status_code == 204
    assert (await client.get(url, headers=logged_out)).status_code == 401
    assert (await client.get(url, headers=tenant.headers)).status_code == 200

    removed_id = await _user_id(client, removed)
    assert (
        await client.delete(f"{tenant.ws}/members/{removed_id}", headers=tenant.headers)
    ).status_code == 204
    assert (await client.get(url, headers=removed)).status_code == 404

    lowered_id = await _user_id(client, lowered)
    lowering = await client.patch(
        f"{tenant.ws}/members/{lowered_id}", json={"role": "viewer"}, headers=tenant.headers
    )
    assert lowering.status_code == 200
    assert (await client.patch(url, json={"description": "y"}, headers=lowered)).status_code == 403
    assert (await client.get(url, headers=lowered)).status_code == 200

    async with db.session() as session:
        user = await session.get(User, deactivated_id)
        assert user is not None
        assert await set_user_active(session, user.email, active=False)
    assert (await client.get(url, headers=deactivated)).status_code == 401

    changed = await client.post(
        "/api/v1/auth/me/password",
        json={"current_password": TEST_PASSWORD, "new_password": "another horse battery staple"},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (await client.get(url, headers=tenant.headers)).status_code == 401
    fresh = bearer(changed.json()["access_token"])
    assert (await client.get(url, headers=fresh)).status_code == 200

    assert (await client.delete(tenant.ws, headers=fresh)).status_code == 204
    assert (await client.get(url, headers=fresh)).status_code == 404
