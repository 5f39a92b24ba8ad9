"""Auth: register, login, me, logout and the JWT rules."""

from __future__ import annotations

import dataclasses
import time
import uuid

import httpx
import jwt
import pytest
from argon2 import profiles
from fastapi import FastAPI
from sqlmodel import select

from fixtures_identity import TEST_PASSWORD, Tenant, bearer
from spectral.platform.identity.models import User
from spectral.platform.identity.passwords import Passwords
from spectral.platform.shared.db import Database
from testenv import TEST_JWT_SECRET

pytestmark = pytest.mark.both_backends

PROBLEM = "application/problem+json"


async def test_register_creates_owner_account_and_workspace(client: httpx.AsyncClient, backend: str) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "Ada@Example.com", "password": "s3cret-enough", "tenant_name": "Analytical"},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"user_id", "account_id", "workspace_id", "access_token"}
    me = await client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    profile = me.json()
    assert profile["email"] == "ada@example.com"
    assert profile["accounts"][0]["role"] == "owner"
    assert profile["workspaces"][0]["id"] == body["workspace_id"]
    assert "admin:workspace" in profile["workspaces"][0]["scopes"]
    assert "admin:account" in profile["scopes"]


async def test_register_twice_with_any_case_is_409(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": tenant.email.upper(), "password": TEST_PASSWORD, "tenant_name": "Again"},
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("password", "kind", "message"),
    [
        ("devpass", "password_too_short", "Password must be at least 8 characters long; this one has 7"),
        ("x" * 1025, "string_too_long", "String should have at most 1024 characters"),
        (
            "password1",
            "password_too_common",
            "Password is one of the most commonly used passwords; choose another",
        ),
        # Case and blanks do not make a common password uncommon.
        (
            " PassWord1234 ",
            "password_too_common",
            "Password is one of the most commonly used passwords; choose another",
        ),
    ],
)
async def test_password_policy_is_a_422_that_says_why(
    client: httpx.AsyncClient, db: Database, password: str, kind: str, message: str
) -> None:
    users_before = await _count_users(db)
    response = await client.post(
        "/api/v1/auth/register", json={"email": "p@example.com", "password": password, "tenant_name": "T"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "password"]
    assert error["type"] == kind
    assert error["msg"] == message
    assert await _count_users(db) == users_before


async def test_a_new_password_is_held_to_the_policy_and_the_old_one_stays(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    _, _, hash_before = await _profile_row(db, tenant.user_id)
    response = await client.post(
        "/api/v1/auth/me/password",
        json={"current_password": tenant.password, "new_password": "iloveyou2"},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "password_too_common"
    _, _, hash_after = await _profile_row(db, tenant.user_id)
    assert hash_after == hash_before
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 200


async def test_login_returns_token_and_workspaces(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["account_id"] == str(tenant.account_id)
    assert [w["id"] for w in body["workspaces"]] == [str(tenant.workspace_id)]


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": "not the password"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "whatever1"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"] == PROBLEM
    assert {k: v for k, v in wrong.json().items()} == unknown.json()


async def test_logout_revokes_the_token(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await client.post("/api/v1/auth/logout", headers=tenant.headers)).status_code == 204
    again = await client.get("/api/v1/auth/me", headers=tenant.headers)
    assert again.status_code == 401
    assert again.json()["detail"] == (
        "The access token has been revoked (logged out); log in again (POST /api/v1/auth/login) for a new token"
    )


def _claims(tenant: Tenant, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": str(tenant.user_id),
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "iss": "spectral",
        "aud": "spectral-api",
        "gen": 0,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


async def test_expired_token_is_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(tenant, iat=now - 7200, exp=now - 3600), TEST_JWT_SECRET, algorithm="HS256")
    response = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert response.status_code == 401
    # Says which (expired, not forged) and what to do.
    assert response.json()["detail"] == (
        "The access token expired; log in again (POST /api/v1/auth/login) for a new token"
    )


async def test_token_signed_with_another_key_is_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = jwt.encode(_claims(tenant), "another-secret-" + "y" * 40, algorithm="HS256")
    response = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"].startswith("The access token is not valid here")


async def test_alg_none_token_is_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = jwt.encode(_claims(tenant), None, algorithm="none")  # type: ignore[arg-type]
    response = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("missing", ["sub", "iat", "exp", "jti", "iss", "aud"])
async def test_token_missing_a_required_claim_is_401(
    client: httpx.AsyncClient, tenant: Tenant, missing: str
) -> None:
    token = jwt.encode(_claims(tenant, **{missing: None}), TEST_JWT_SECRET, algorithm="HS256")
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401


async def test_wrong_audience_or_issuer_is_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for override in ({"aud": "someone-else"}, {"iss": "evil"}):
        token = jwt.encode(_claims(tenant, **override), TEST_JWT_SECRET, algorithm="HS256")
        assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401


async def test_garbage_and_missing_credentials_are_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer("not-a-jwt"))).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"})).status_code == 401


async def test_deactivated_user_token_is_401_and_login_fails(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    async with db.session() as session:
        user = await session.get(User, tenant.user_id)
        assert user is not None
        user.is_active = False
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 401
    login = await client.post("/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password})
    assert login.status_code == 401


async def test_brute_force_login_is_429_with_retry_after(client: httpx.AsyncClient, tenant: Tenant) -> None:
    statuses = []
    for _ in range(11):
        response = await client.post(
            "/api/v1/auth/login", json={"email": tenant.email, "password": "guess-guess"}
        )
        statuses.append(response.status_code)
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["content-type"] == PROBLEM
    # From the guessing address even the right password waits until the window passes (the
    # owner from any other address does not: see test_login_throttle.py).
    right = await client.post("/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password})
    assert right.status_code == 429


async def _password_hash(db: Database, user_id: uuid.UUID) -> str:
    async with db.session() as session:
        user = await session.get(User, user_id)
        assert user is not None
        assert user.password_hash is not None
        return user.password_hash


async def test_login_rehashes_when_parameters_change(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, db: Database
) -> None:
    state = app.state.spectral
    stronger = Passwords(dataclasses.replace(state.passwords.parameters, time_cost=2, memory_cost=128))
    state.passwords = stronger
    before = await _password_hash(db, tenant.user_id)
    assert stronger.needs_rehash(before)
    response = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password}
    )
    assert response.status_code == 200
    after = await _password_hash(db, tenant.user_id)
    assert after != before
    assert "t=2" in after
    assert not stronger.needs_rehash(after)


async def test_a_hash_with_old_parameters_is_upgraded_to_the_rfc_9106_profile_at_login(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, db: Database
) -> None:
    # The parameters this service hashed with before (OWASP's minimum: t=2, m=19 MiB, p=1).
    old = Passwords(
        dataclasses.replace(profiles.RFC_9106_LOW_MEMORY, time_cost=2, memory_cost=19 * 1024, parallelism=1)
    )
    async with db.session() as session:
        user = await session.get(User, tenant.user_id)
        assert user is not None
        user.password_hash = await old.hash(tenant.password)
    app.state.spectral.passwords = Passwords()  # the production default: RFC 9106 low memory
    wrong = await client.post("/api/v1/auth/login", json={"email": tenant.email, "password": "not it at all"})
    assert wrong.status_code == 401
    assert "m=19456,t=2,p=1" in await _password_hash(db, tenant.user_id)  # a failed login changes nothing
    right = await client.post("/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password})
    assert right.status_code == 200
    upgraded = await _password_hash(db, tenant.user_id)
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    again = await client.post("/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password})
    assert again.status_code == 200
    assert await _password_hash(db, tenant.user_id) == upgraded  # upgraded once, then left alone


async def _count_users(db: Database) -> int:
    async with db.session() as session:
        return len((await session.exec(select(User))).all())


async def _profile_row(db: Database, user_id: uuid.UUID) -> tuple[str, str | None, str | None]:
    async with db.session() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user.email, user.display_name, user.password_hash


async def test_patch_me_updates_name_and_email(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await client.patch(
        "/api/v1/auth/me",
        json={"display_name": "Ada", "email": "New@Example.com", "current_password": tenant.password},
        headers=tenant.headers,
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Ada"
    assert response.json()["email"] == "new@example.com"
    taken = await client.patch(
        "/api/v1/auth/me",
        json={"email": other_tenant.email, "current_password": tenant.password},
        headers=tenant.headers,
    )
    assert taken.status_code == 409
    login = await client.post(
        "/api/v1/auth/login", json={"email": "new@example.com", "password": tenant.password}
    )
    assert login.status_code == 200


async def test_display_name_alone_needs_no_password(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    response = await client.patch("/api/v1/auth/me", json={"display_name": "Ada"}, headers=tenant.headers)
    assert response.status_code == 200
    same_email = await client.patch(
        "/api/v1/auth/me", json={"email": tenant.email.upper()}, headers=tenant.headers
    )
    assert same_email.status_code == 200
    email, display_name, _ = await _profile_row(db, tenant.user_id)
    assert (email, display_name) == (tenant.email, "Ada")


@pytest.mark.parametrize(
    ("extra", "status", "detail"),
    [
        ({}, 400, "Changing the email needs current_password"),
        ({"current_password": "not the password"}, 403, "The current password is incorrect"),
    ],
)
async def test_changing_the_email_needs_the_current_password(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    extra: dict[str, str],
    status: int,
    detail: str,
) -> None:
    before = await _profile_row(db, tenant.user_id)
    response = await client.patch(
        "/api/v1/auth/me",
        json={"email": "thief@example.com", "display_name": "Mallory", **extra},
        headers=tenant.headers,
    )
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == detail
    # Nothing changed, not even the display name sent along.
    assert await _profile_row(db, tenant.user_id) == before
    refused = await client.post(
        "/api/v1/auth/login", json={"email": "thief@example.com", "password": tenant.password}
    )
    assert refused.status_code == 401


async def test_an_oauth_only_user_cannot_change_the_email_without_a_password(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    async with db.session() as session:
        user = await session.get(User, tenant.user_id)
        assert user is not None
        user.password_hash = None
    before = await _profile_row(db, tenant.user_id)
    response = await client.patch(
        "/api/v1/auth/me",
        json={"email": "thief@example.com", "current_password": "anything at all"},
        headers=tenant.headers,
    )
    assert response.status_code == 403
    assert await _profile_row(db, tenant.user_id) == before


async def test_guessing_the_current_password_is_throttled_like_a_login(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    before = await _profile_row(db, tenant.user_id)
    statuses = [
        (
            await client.patch(
                "/api/v1/auth/me",
                json={"email": "thief@example.com", "current_password": f"guess number {i}"},
                headers=tenant.headers,
            )
        ).status_code
        for i in range(11)
    ]
    assert statuses == [403] * 10 + [429]
    assert await _profile_row(db, tenant.user_id) == before


async def test_change_password_ends_old_tokens(client: httpx.AsyncClient, tenant: Tenant) -> None:
    wrong = await client.post(
        "/api/v1/auth/me/password",
        json={"current_password": "not it at all", "new_password": "brand new password"},
        headers=tenant.headers,
    )
    assert wrong.status_code == 400
    changed = await client.post(
        "/api/v1/auth/me/password",
        json={"current_password": tenant.password, "new_password": "brand new password"},
        headers=tenant.headers,
    )
    assert changed.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 401
    fresh = bearer(changed.json()["access_token"])
    assert (await client.get("/api/v1/auth/me", headers=fresh)).status_code == 200
    login = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": "brand new password"}
    )
    assert login.status_code == 200


async def test_times_are_rfc3339_utc(client: httpx.AsyncClient, tenant: Tenant) -> None:
    me = (await client.get("/api/v1/auth/me", headers=tenant.headers)).json()
    assert me["created_at"].endswith(("Z", "+00:00"))
