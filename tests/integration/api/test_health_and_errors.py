"""The platform contract every router inherits: health, problem documents, request ids."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from fixtures_identity import Tenant
from spectral.platform.shared.errors import ConflictError, RateLimitedError

pytestmark = pytest.mark.both_backends

PROBLEM = "application/problem+json"


async def test_health_reports_database_and_queue(client: httpx.AsyncClient, backend: str) -> None:
    for path in ("/api/v1/health", "/api/health"):
        response = await client.get(path)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["database"] == {
            "status": "ok",
            "backend": "postgresql" if backend == "postgres" else "sqlite",
        }
        assert body["queue"] == {"status": "ok", "backend": "in-process"}
        assert body["version"]


async def test_health_is_503_when_the_database_is_unreachable(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable() -> bool:
        return False

    monkeypatch.setattr(app.state.spectral.db, "ping", unreachable)
    response = await client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["database"]["status"] == "unavailable"


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "https://spectral.dev/errors/not-found",
        "title": "Resource Not Found",
        "status": 404,
        "detail": "No route matches /api/v1/nothing-here",
        "instance": "/api/v1/nothing-here",
    }


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/health")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/method-not-allowed")
    assert response.headers["allow"] == "GET"


class Echo(BaseModel):
    name: str
    size: int


def _add_probe_routes(app: FastAPI) -> None:
    router = APIRouter()

    @router.post("/probe/echo")
    async def echo(body: Echo) -> Echo:
        return body

    @router.get("/probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: SELECT * FROM users")

    @router.get("/probe/conflict")
    async def conflict() -> None:
        raise ConflictError("Agent slug 'x' already exists")

    @router.get("/probe/limited")
    async def limited() -> None:
        raise RateLimitedError("Slow down", retry_after=7)

    app.include_router(router)


async def test_malformed_json_is_a_422_problem_with_errors(client: httpx.AsyncClient, app: FastAPI) -> None:
    _add_probe_routes(app)
    response = await client.post(
        "/probe/echo", content=b'{"name": "x", "size": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["detail"] == "The request body is not valid JSON"
    assert body["errors"][0]["type"] == "json_invalid"
    # What the parser tripped on, and where: a trailing comma is named, not only "JSON decode error".
    trailing_comma = await client.post(
        "/probe/echo", content=b'{"name": "x",}', headers={"content-type": "application/json"}
    )
    [error] = trailing_comma.json()["errors"]
    assert error["loc"] == ["body", 13]
    assert error["msg"] == "JSON decode error: Expecting property name enclosed in double quotes"


async def test_a_json_body_of_another_media_type_is_a_415_problem_naming_it(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant
) -> None:
    # `curl -d` without a Content-Type sends a form; FastAPI would validate the raw bytes (a 422
    # about "a valid dictionary"). Every route that parses JSON says which type it needs instead.
    login = {"email": tenant.email, "password": tenant.password}
    body = json.dumps(login).encode()
    for content_type, named in (
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("text/plain; charset=utf-8", "text/plain"),
        (None, "no type"),
    ):
        headers = {} if content_type is None else {"content-type": content_type}
        for path, extra in (("/api/v1/auth/login", {}), (f"{tenant.ws}/agents", tenant.headers)):
            response = await client.post(path, content=body, headers={**headers, **extra})
            assert response.status_code == 415, response.text
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["detail"] == (
                f"Send the body as JSON (Content-Type: application/json), not {named}"
            )
    assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
    assert (
        await client.post(
            "/api/v1/auth/login", content=body, headers={"content-type": "application/merge-patch+json"}
        )
    ).status_code == 200
    # A route without a JSON body is not concerned, and the contract lists the 415 where it applies.
    assert (await client.post("/api/v1/auth/logout", headers=tenant.headers)).status_code == 204
    operations = (await client.get("/openapi.json")).json()["paths"]
    assert "415" in operations["/api/v1/auth/login"]["post"]["responses"]
    assert "415" not in operations["/api/v1/auth/logout"]["post"]["responses"]


async def test_invalid_payload_lists_every_error(client: httpx.AsyncClient, app: FastAPI) -> None:
    _add_probe_routes(app)
    response = await client.post("/probe/echo", json={"size": "big"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {tuple(e["loc"]) for e in errors} == {("body", "name"), ("body", "size")}
    assert all(e["msg"] and e["type"] for e in errors)


async def test_failing_handler_is_a_500_without_internals(client: httpx.AsyncClient, app: FastAPI) -> None:
    _add_probe_routes(app)
    response = await client.get("/probe/boom", headers={"X-Request-Id": "req-123"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["request_id"] == "req-123"
    assert response.headers["x-request-id"] == "req-123"
    assert "SELECT" not in response.text
    assert "RuntimeError" not in response.text


async def test_domain_errors_map_to_their_status(client: httpx.AsyncClient, app: FastAPI) -> None:
    _add_probe_routes(app)
    conflict = await client.get("/probe/conflict")
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "https://spectral.dev/errors/conflict"
    limited = await client.get("/probe/limited")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/api/v1/health", headers={"X-Request-Id": "abc-1"})
    assert echoed.headers["x-request-id"] == "abc-1"
    generated = await client.get("/api/v1/health")
    assert len(generated.headers["x-request-id"]) == 32
    hostile = await client.get("/api/v1/health", headers={"X-Request-Id": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"


async def test_docs_are_served_from_local_assets(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "cdn." not in page.text
        assert "fonts.googleapis" not in page.text
    assert (await client.get("/static-offline-docs/swagger-ui-bundle.js")).status_code == 200
    assert (await client.get("/static-offline-docs/redoc.standalone.js")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert len([t for t in spec["tags"] if t["name"] != "Health"]) == 20


async def test_unauthenticated_is_a_401_problem_naming_the_scheme(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_pagination_limits_are_validated(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for query, field in (("limit=0", "limit"), ("limit=201", "limit"), ("offset=-1", "offset")):
        response = await client.get(f"/api/v1/workspaces?{query}", headers=tenant.headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", field]
    page = (await client.get("/api/v1/workspaces?limit=200", headers=tenant.headers)).json()
    assert page["pagination"] == {"total": 1, "limit": 200, "offset": 0}
