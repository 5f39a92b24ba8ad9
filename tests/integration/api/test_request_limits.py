"""Issue 10 item 2: one bound on every request body, checked before and while it is read."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import Request

from conftest import LiveApi, running_api
from fixtures_identity import TEST_PASSWORD, Tenant, bearer
from servers import serve_in_thread
from spectral.platform.identity.tokens import TokenCodec
from spectral.platform.shared.settings import Environment, Settings
from spectral_api.app import create_app
from testenv import TEST_JWT_SECRET

PROBLEM = "application/problem+json"
LIMIT = 64 * 1024
CHUNK = 4 * 1024


async def _agent_count(client: httpx.AsyncClient, tenant: Tenant) -> int:
    response = await client.get(f"{tenant.ws}/agents", headers=tenant.headers)
    assert response.status_code == 200
    total: int = response.json()["pagination"]["total"]
    return total


async def test_declared_length_over_the_limit_is_413_before_reading(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    settings.max_json_body_bytes = LIMIT
    before = await _agent_count(client, tenant)
    body = json.dumps({"name": "big", "slug": "big", "description": "x" * LIMIT}).encode()
    response = await client.post(
        f"{tenant.ws}/agents",
        content=body,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == f"The request body exceeds the limit of {LIMIT} bytes"
    assert response.headers["x-request-id"]
    assert await _agent_count(client, tenant) == before


async def test_a_body_under_the_limit_is_served(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    settings.max_json_body_bytes = LIMIT
    response = await client.post(
        f"{tenant.ws}/agents", json={"name": "small", "slug": "small"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text


async def test_routes_with_their_own_limit_keep_it(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    """OTLP bodies answer to SPECTRAL_OTLP_MAX_BODY_BYTES, not to the JSON limit."""
    settings.max_json_body_bytes = LIMIT
    key = await tenant.api_key(["write:traces"])
    body = json.dumps({"resourceSpans": [], "padding": "x" * (2 * LIMIT)}).encode()
    response = await client.post(
        "/otel/v1/traces", content=body, headers={**bearer(key), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    settings.otlp_max_body_bytes = LIMIT
    response = await client.post(
        "/otel/v1/traces", content=body, headers={**bearer(key), "Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_a_body_without_credentials_is_refused_before_it_is_read(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    """401, not 413: the route needs a token, so not one byte of the body is looked at."""
    settings.max_json_body_bytes = LIMIT
    before = await _agent_count(client, tenant)
    response = await client.post(f"{tenant.ws}/agents", content=b"{" + b" " * (2 * LIMIT))
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await _agent_count(client, tenant) == before


class _CountedBody:
    """A chunked body of `total` bytes that records how much of it the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in _chunks(self.total):
            self.pulled += len(chunk)
            yield chunk


async def _expired_token(tenant: Tenant, settings: Settings) -> str:
    codec = TokenCodec(
        secret=settings.jwt_secret_value(),
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime=timedelta(minutes=-5),
    )
    return codec.issue(tenant.user_id, generation=0).token


async def test_a_large_body_with_a_bad_credential_is_refused_before_it_is_read(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    """A bad credential is found out before a byte of a large body is pulled: a forged, expired or
    outlived JWT, an unknown or revoked API key. Nothing is written."""
    revoked = await tenant.api_key(["write:traces"], name="revoked")
    keys = (await client.get(f"{tenant.ws}/keys", headers=tenant.headers)).json()["results"]
    revoked_id = next(k["id"] for k in keys if k["name"] == "revoked")
    assert (await client.delete(f"{tenant.ws}/keys/{revoked_id}", headers=tenant.headers)).status_code == 204
    credentials = {
        "forged JWT": tenant.token[:-4] + ("AAAA" if not tenant.token.endswith("AAAA") else "BBBB"),
        "expired JWT": await _expired_token(tenant, settings),
        "unknown API key": "sk_live_" + "0" * 40,
        "revoked API key": revoked,
        "not a bearer token": None,
    }
    before = await _agent_count(client, tenant)
    for label, credential in credentials.items():
        body = _CountedBody(4 * LIMIT)
        authorization = f"Bearer {credential}" if credential else "Basic dXNlcjpwYXNz"
        response = await client.post(
            f"{tenant.ws}/agents",
            content=body,
            headers={"Authorization": authorization, "Content-Type": "application/json"},
        )
        assert response.status_code == 401, (label, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert body.pulled == 0, label
    assert await _agent_count(client, tenant) == before


async def test_a_large_body_with_a_good_credential_is_read(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    """The same body with the tenant's own token is read to the end and validated (its description
    is too long for an agent); a key that identifies its holder but lacks the route's scope is let
    through to the route, which answers 403."""
    settings.max_json_body_bytes = 8 * LIMIT
    body = _CountedBody(4 * LIMIT)
    response = await client.post(
        f"{tenant.ws}/agents", content=body, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "description"]]
    assert body.pulled > 4 * LIMIT
    reader = await tenant.api_key(["read:agents"])
    response = await client.post(
        f"{tenant.ws}/agents",
        content=_CountedBody(4 * LIMIT),
        headers={**bearer(reader), "Content-Type": "application/json"},
    )
    assert response.status_code == 403, response.text


async def test_public_routes_still_read_their_bodies(client: httpx.AsyncClient) -> None:
    email = f"limits-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": TEST_PASSWORD, "tenant_name": "Limits"}
    )
    assert response.status_code == 201, response.text


async def test_a_non_numeric_content_length_is_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    request = client.build_request(
        "POST",
        f"{tenant.ws}/agents",
        content=b"{}",
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    request.headers["Content-Length"] = "lots"
    response = await client.send(request)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


def _chunks(total: int) -> Iterator[bytes]:
    yield b'{"name": "chunked", "slug": "chunked", "description": "'
    for _ in range(total // CHUNK):
        yield b"x" * CHUNK
    yield b'"}'


@pytest.fixture
def limited_api(live_database_url: str, tmp_path: Path) -> Iterator[LiveApi]:
    with running_api(live_database_url, tmp_path / "data", max_json_body_bytes=LIMIT) as api:
        yield api


def _register(http: httpx.Client) -> tuple[dict[str, str], str]:
    email = f"chunked-{uuid.uuid4().hex[:8]}@example.com"
    response = http.post(
        "/api/v1/auth/register", json={"email": email, "password": TEST_PASSWORD, "tenant_name": "Chunked"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return bearer(body["access_token"]), f"/api/v1/workspaces/{body['workspace_id']}"


@pytest.mark.both_backends
def test_a_chunked_oversize_body_is_413_on_a_real_server(limited_api: LiveApi) -> None:
    with httpx.Client(base_url=limited_api.url, timeout=30) as http:
        headers, ws = _register(http)
        response = http.post(
            f"{ws}/agents",
            content=_chunks(LIMIT * 4),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == f"The request body exceeds the limit of {LIMIT} bytes"
    with httpx.Client(base_url=limited_api.url, timeout=30) as http:
        listed = http.get(f"{ws}/agents", headers=headers)
        assert listed.json()["pagination"]["total"] == 0


def test_the_server_never_holds_more_than_the_limit(tmp_path: Path, live_database_url: str) -> None:
    """A route reading the raw stream sees at most the limit (plus one network read) before the
    413: the rest of the body is never taken into memory."""
    settings = Settings(
        env=Environment.TEST,
        data_dir=tmp_path / "data",
        database_url=live_database_url,
        jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
        max_json_body_bytes=LIMIT,
    )
    app = create_app(settings)
    seen: list[int] = []

    @app.post("/probe/stream")
    async def stream(request: Request) -> dict[str, int]:
        total = 0
        try:
            async for chunk in request.stream():
                total += len(chunk)
        finally:
            seen.append(total)
        return {"bytes": total}

    with serve_in_thread(app, lifespan="on") as url, httpx.Client(base_url=url, timeout=30) as http:
        response = http.post("/probe/stream", content=_chunks(LIMIT * 16))
    assert response.status_code == 413
    assert len(seen) == 1
    assert seen[0] <= LIMIT
