"""Auth: register, login, me, logout and the JWT rules."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest

from fixtures_identity import TEST_PASSWORD, Tenant, bearer
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


@pytest.mark.parametrize("password", ["short", "x" * 1025])
async def test_password_policy_is_a_422(client: httpx.AsyncClient, password: str) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": "p@example.com", "password": password, "tenant_name": "T"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "password"]


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
    assert again.json()["detail"] == "The access token has been revoked"


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
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401


async def test_token_signed_with_another_key_is_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = jwt.encode(_claims(tenant), "another-secret-" + "y" * 40, algorithm="HS256")
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401


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
