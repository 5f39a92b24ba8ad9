"""OAuth / OIDC sign-in against a small OIDC provider served on loopback by a real HTTP server."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from fixtures_identity import Tenant, bearer
from spectral.platform.shared.settings import Settings

CLIENT_ID = "spectral-test"
CLIENT_SECRET = "provider-secret"


@dataclass
class Provider:
    base: str
    person: dict[str, Any]
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": provider.base,
                        "authorization_endpoint": provider.base + "/authorize",
                        "token_endpoint": provider.base + "/token",
                        "userinfo_endpoint": provider.base + "/userinfo",
                    },
                )
            elif url.path == "/authorize":
                if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
                    self._json(400, {"error": "invalid_request"})
                    return
                code = secrets.token_urlsafe(16)
                provider.codes[code] = (query["code_challenge"], query["redirect_uri"])
                self.send_response(302)
                self.send_header(
                    "Location",
                    f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}",
                )
                self.end_headers()
            elif url.path == "/userinfo":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in provider.tokens:
                    self._json(401, {"error": "invalid_token"})
                    return
                self._json(200, provider.person)
            else:
                self._json(404, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            pending = provider.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if (
                pending is None
                or form.get("client_id") != CLIENT_ID
                or form.get("client_secret") != CLIENT_SECRET
                or pending != (challenge, form.get("redirect_uri"))
            ):
                self._json(400, {"error": "invalid_grant"})
                return
            token = secrets.token_urlsafe(16)
            provider.tokens.add(token)
            self._json(200, {"access_token": token, "token_type": "Bearer"})

    return Handler


@pytest.fixture
def oidc_provider() -> Iterator[Provider]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    provider = Provider(
        base=f"http://127.0.0.1:{server.server_address[1]}",
        person={"sub": "oidc-user-1", "email": "Oidc@Example.com", "email_verified": True, "name": "Olive"},
    )
    server.RequestHandlerClass = _handler(provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    server.server_close()


@pytest.fixture
def oidc_settings(settings: Settings, oidc_provider: Provider, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(settings, "oidc_issuer_url", oidc_provider.base)
    monkeypatch.setattr(settings, "oidc_client_id", CLIENT_ID)
    monkeypatch.setattr(settings, "oidc_client_secret", SecretStr(CLIENT_SECRET))
    return settings


async def _authorize(client: httpx.AsyncClient) -> dict[str, str]:
    """What the browser does: follow our redirect to the provider and come back with code + state."""
    start = await client.get("/api/v1/auth/oauth/oidc")
    assert start.status_code == 302
    location = start.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"]
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(location)
    assert consent.status_code == 302
    back = {k: v[0] for k, v in parse_qs(urlsplit(consent.headers["location"]).query).items()}
    assert back["state"] == query["state"]
    return {"provider": "oidc", "code": back["code"], "state": back["state"]}


async def test_oidc_sign_in_creates_a_user_with_a_tenant(
    client: httpx.AsyncClient, oidc_settings: Settings
) -> None:
    callback = await _authorize(client)
    response = await client.post("/api/v1/auth/callback", json=callback)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = (await client.get("/api/v1/auth/me", headers=bearer(token))).json()
    assert me["email"] == "oidc@example.com"
    assert me["display_name"] == "Olive"
    assert me["accounts"][0]["role"] == "owner"
    assert len(me["workspaces"]) == 1

    # The state worked once; replaying it is refused.
    replay = await client.post("/api/v1/auth/callback", json=callback)
    assert replay.status_code == 400
    # A second sign-in finds the same user through the linked identity.
    again = await client.post("/api/v1/auth/callback", json=await _authorize(client))
    assert again.json()["user_id"] == response.json()["user_id"]


async def test_verified_email_links_the_existing_user(
    client: httpx.AsyncClient, oidc_settings: Settings, oidc_provider: Provider, tenant: Tenant
) -> None:
    oidc_provider.person = {"sub": "s-2", "email": tenant.email, "email_verified": True}
    response = await client.post("/api/v1/auth/callback", json=await _authorize(client))
    assert response.status_code == 200
    assert response.json()["user_id"] == str(tenant.user_id)


async def test_unverified_email_does_not_take_over_an_account(
    client: httpx.AsyncClient, oidc_settings: Settings, oidc_provider: Provider, tenant: Tenant
) -> None:
    oidc_provider.person = {"sub": "s-3", "email": tenant.email, "email_verified": False}
    response = await client.post("/api/v1/auth/callback", json=await _authorize(client))
    assert response.status_code == 401


async def test_bad_state_is_400(client: httpx.AsyncClient, oidc_settings: Settings) -> None:
    callback = await _authorize(client)
    response = await client.post("/api/v1/auth/callback", json={**callback, "state": "forged"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_wrong_code_is_400(client: httpx.AsyncClient, oidc_settings: Settings) -> None:
    callback = await _authorize(client)
    response = await client.post("/api/v1/auth/callback", json={**callback, "code": "made-up"})
    assert response.status_code == 400


async def test_unknown_provider_is_404(client: httpx.AsyncClient, oidc_settings: Settings) -> None:
    assert (await client.get("/api/v1/auth/oauth/myspace")).status_code == 404
    # GitHub is known but not configured here.
    assert (await client.get("/api/v1/auth/oauth/github")).status_code == 404
    response = await client.post(
        "/api/v1/auth/callback", json={"provider": "myspace", "code": "c", "state": "s"}
    )
    assert response.status_code == 404
