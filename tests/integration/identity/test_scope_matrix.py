"""The scope matrix: for every route of every router that exists (now and later), read the scopes
its `authorize` dependency declares and prove they are enforced — no token 401, missing scope 403
naming the scope, another tenant's workspace 404, an API key on a user-only route 403."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from fixtures_identity import Tenant, bearer
from spectral.platform.identity.scopes import API_KEY_SCOPES, WORKSPACE_ROLE_SCOPES, Scope, WorkspaceRole
from spectral.platform.shared.settings import Environment, Settings
from spectral_api.app import create_app
from spectral_api.auth import authorize, authorize_export, authorize_ingest, authorize_span_write
from testenv import TEST_JWT_SECRET


@dataclass(frozen=True)
class Protected:
    method: str
    path: str
    scopes: frozenset[Scope]
    ingest: bool
    path_params: dict[str, Any]

    @property
    def workspace_scoped(self) -> bool:
        return "workspace_id" in self.path_params

    def url(self, workspace_id: uuid.UUID) -> str:
        values = {
            name: _sample(name, annotation, workspace_id) for name, annotation in self.path_params.items()
        }
        return self.path.format(**values)


def _sample(name: str, annotation: Any, workspace_id: uuid.UUID) -> str:
    if name == "workspace_id":
        return str(workspace_id)
    if annotation is uuid.UUID:
        return str(uuid.uuid4())
    if annotation is int:
        return "1"
    # Strings: 32 hex characters also satisfy trace-id style parameters.
    return "0" * 32


def _authorizers(
    dependant: Dependant, inherited: frozenset[str] = frozenset()
) -> Iterator[tuple[Dependant, frozenset[str]]]:
    scopes = inherited | frozenset(dependant.own_oauth_scopes or ())
    if dependant.call in (authorize, authorize_ingest, authorize_export, authorize_span_write):
        yield dependant, scopes
    for sub in dependant.dependencies:
        yield from _authorizers(sub, scopes)


def api_routes() -> list[RouteContext]:
    """Every API route of the app as served (included routers flattened, prefixes applied)."""
    settings = Settings(
        env=Environment.TEST,
        data_dir=Path("/nonexistent"),
        database_url="sqlite:///unused.db",
        jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
    )
    return [
        r for r in iter_route_contexts(create_app(settings).routes) if isinstance(r.original_route, APIRoute)
    ]


def protected_routes() -> list[Protected]:
    routes = []
    for route in api_routes():
        found = list(_authorizers(route.dependant))
        if not found:
            continue
        scopes = frozenset(Scope(s) for _, s in found for s in s)
        ingest = any(d.call in (authorize_ingest, authorize_export) for d, _ in found)
        params = {p.name: p.field_info.annotation for p in route.dependant.path_params}
        for method in sorted(route.methods or ()):
            routes.append(Protected(method, route.path_format, scopes, ingest, params))
    return routes


ROUTES = protected_routes()
PUBLIC_AUTH_ROUTES = {
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/callback",
    "/api/v1/auth/reset-password",
    "/api/v1/auth/reset-password/confirm",
    "/api/v1/auth/oauth/{provider}",
}


def test_the_matrix_sees_the_identity_routes() -> None:
    paths = {r.path for r in ROUTES}
    assert "/api/v1/auth/me" in paths
    assert "/api/v1/workspaces/{workspace_id}/keys" in paths
    assert "/api/v1/operations/tenants" in paths
    assert not paths & PUBLIC_AUTH_ROUTES


def test_every_api_route_is_protected_unless_public() -> None:
    """A new route without a principal type would silently be public: refuse that."""
    public = {"/api/v1/health", "/api/health", *PUBLIC_AUTH_ROUTES}
    unprotected = [
        route.path_format
        for route in api_routes()
        if route.path_format.startswith(("/api/", "/otel/"))
        and route.path_format not in public
        and not list(_authorizers(route.dependant))
    ]
    assert unprotected == []


async def _send(
    client: httpx.AsyncClient, route: Protected, url: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.request(
        route.method, url, headers=headers, json={} if route.method in {"POST", "PUT", "PATCH"} else None
    )


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
async def test_scopes_are_enforced(
    route: Protected, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    url = route.url(tenant.workspace_id)
    ingest_headers = {"X-Workspace-Id": str(tenant.workspace_id)} if route.ingest else {}

    anonymous = await _send(client, route, url, ingest_headers)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["content-type"] == "application/problem+json"

    # Someone who holds everything but one required scope is 403, told which scope is missing and
    # what to do: a user asks an admin for a role, a key's owner creates a key with the scope.
    ask_admin, new_key = "ask a workspace admin for a role that does", 'create one with "scopes": ['
    candidates: list[tuple[dict[str, str], frozenset[Scope], str]] = []
    if route.workspace_scoped or route.ingest:
        for role in (WorkspaceRole.VIEWER, WorkspaceRole.EDITOR, WorkspaceRole.APPROVER):
            headers = {**await tenant.member(role), **ingest_headers}
            candidates.append((headers, WORKSPACE_ROLE_SCOPES[role], ask_admin))
    else:
        # A plain account member: no admin:account, no operations scopes.
        candidates.append((await tenant.member(WorkspaceRole.VIEWER), frozenset(), ask_admin))
    if route.scopes and route.scopes <= API_KEY_SCOPES:
        for scope in API_KEY_SCOPES:
            candidates.append((bearer(await tenant.api_key([scope])), frozenset({scope}), new_key))
    lacking = [
        (headers, route.scopes - granted, remedy)
        for headers, granted, remedy in candidates
        if route.scopes - granted
    ]
    for headers, missing, remedy in lacking:
        response = await _send(client, route, url, headers)
        assert response.status_code == 403, response.text
        detail = response.json()["detail"]
        assert any(scope in detail for scope in missing)
        assert remedy in detail, detail

    if (route.scopes and not route.scopes <= API_KEY_SCOPES) or not route.scopes:
        key = await tenant.api_key()
        response = await _send(client, route, url, {**bearer(key), **ingest_headers})
        assert response.status_code == 403, response.text
        assert "API keys cannot call this route" in response.json()["detail"]

    if route.workspace_scoped:
        # The other tenant's owner holds every workspace scope — in their own workspace only.
        foreign = await _send(client, route, url, other_tenant.headers)
        assert foreign.status_code == 404, foreign.text
        if route.scopes <= API_KEY_SCOPES and route.scopes:
            foreign_key = await other_tenant.api_key()
            assert (await _send(client, route, url, bearer(foreign_key))).status_code == 404
        mismatch = await _send(
            client, route, url, {**tenant.headers, "X-Workspace-Id": str(other_tenant.workspace_id)}
        )
        assert mismatch.status_code == 400, mismatch.text

    if route.ingest:
        key = await tenant.api_key([Scope.WRITE_TRACES])
        elsewhere = await _send(
            client, route, url, {**bearer(key), "X-Workspace-Id": str(other_tenant.workspace_id)}
        )
        assert elsewhere.status_code == 403, elsewhere.text

    operations = bool(route.scopes & {s for s in Scope if s.value.endswith(":operations")})
    if route.method == "GET" and not operations and not route.ingest:
        allowed = await _send(client, route, url, {**tenant.headers, **ingest_headers})
        assert allowed.status_code not in (401, 403), allowed.text
