"""Issue 10 item 5: ordinary bad input is a 422 problem on both backends, never a 500, and
nothing is written. NUL characters anywhere in text, integers past 64 bits, non-finite numbers,
JSON bodies nested deeper than any stored value may be."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI

from fixtures_identity import TEST_PASSWORD, Tenant
from spectral.platform.agents.models import Agent, AgentConfigVersion
from spectral.platform.identity.models import User
from spectral.platform.shared.schema_types import INT64_MAX
from spectral.platform.shared.stored_json import MAX_REQUEST_JSON_DEPTH
from spectral_api.dependencies import DbSession
from spectral_api.middleware import BOUNDS_OWN_NESTING_EXTENSION, DECODES_OWN_VALUES_EXTENSION

pytestmark = pytest.mark.both_backends

PROBLEM = "application/problem+json"
TOO_BIG = INT64_MAX + 1


async def _count(app: FastAPI, model: type) -> int:
    async with app.state.spectral.db.session() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _assert_422(response: httpx.Response, *locs: list[object]) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert [error["loc"] for error in response.json()["errors"]] == list(locs)


async def test_nul_in_a_body_string_is_422_and_nothing_is_written(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant
) -> None:
    before = await _count(app, Agent)
    response = await client.post(
        f"{tenant.ws}/agents", json={"name": "bad\x00name", "slug": "bad"}, headers=tenant.headers
    )
    _assert_422(response, ["body", "name"])
    nested = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "ok", "slug": "ok", "config": {"model": "m", "params": {"k\x00": ["a", "b\x00"]}}},
        headers=tenant.headers,
    )
    _assert_422(nested, ["body", "config", "params", "k\\u0000"], ["body", "config", "params", "k\\u0000", 1])
    assert await _count(app, Agent) == before


async def test_nul_in_the_tenant_name_at_register_is_422(client: httpx.AsyncClient, app: FastAPI) -> None:
    before = await _count(app, User)
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": f"nul-{uuid.uuid4().hex[:8]}@example.com",
            "password": TEST_PASSWORD,
            "tenant_name": "A\x00",
        },
    )
    _assert_422(response, ["body", "tenant_name"])
    assert await _count(app, User) == before


async def test_nul_in_a_query_or_path_parameter_is_422(client: httpx.AsyncClient, tenant: Tenant) -> None:
    _assert_422(
        await client.get(f"{tenant.ws}/traces", params={"q": "a\x00b"}, headers=tenant.headers),
        ["query", "q"],
    )
    _assert_422(await client.get(f"{tenant.ws}/agents/%00", headers=tenant.headers), ["path"])


async def test_integers_past_64_bits_are_422(client: httpx.AsyncClient, app: FastAPI, tenant: Tenant) -> None:
    ok = await client.get(f"{tenant.ws}/agents", params={"offset": INT64_MAX}, headers=tenant.headers)
    assert ok.status_code == 200
    _assert_422(
        await client.get(f"{tenant.ws}/agents", params={"offset": TOO_BIG}, headers=tenant.headers),
        ["query", "offset"],
    )
    created = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "n", "slug": "n", "config": {"model": "m", "templates": {"system": "hi"}}},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    agent = created.json()["id"]
    _assert_422(
        await client.get(f"{tenant.ws}/agents/{agent}/versions/{TOO_BIG}", headers=tenant.headers),
        ["path", "number"],
    )
    _assert_422(
        await client.post(
            f"{tenant.ws}/agents/{agent}/templates/system/render",
            json={"version": TOO_BIG},
            headers=tenant.headers,
        ),
        ["body", "version"],
    )
    _assert_422(
        await client.get(
            f"{tenant.ws}/scans/{uuid.uuid4()}/events", params={"after": TOO_BIG}, headers=tenant.headers
        ),
        ["query", "after"],
    )
    before = await _count(app, Agent)
    _assert_422(
        await client.post(
            f"{tenant.ws}/agents",
            json={"name": "s", "slug": "s", "config": {"model": "m", "params": {"seed": 2**70}}},
            headers=tenant.headers,
        ),
        ["body", "config", "params", "seed"],
    )
    assert await _count(app, Agent) == before


async def test_non_finite_numbers_are_422(client: httpx.AsyncClient, app: FastAPI, tenant: Tenant) -> None:
    before = await _count(app, Agent)
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
        response = await client.post(
            f"{tenant.ws}/agents",
            content=b'{"name": "f", "slug": "f", "config": {"model": "m", "params": {"temperature": %s}}}'
            % literal,
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
        _assert_422(response, ["body", "config", "params", "temperature"])
    assert await _count(app, Agent) == before


async def test_text_that_only_looks_like_a_nul_escape_is_stored(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """An escaped backslash followed by u0000 is six ordinary characters, not a NUL."""
    response = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "literal \\u0000 and 12345678901234567890", "slug": "literal"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "literal \\u0000 and 12345678901234567890"


async def test_a_value_the_database_refuses_is_422_not_500(
    client: httpx.AsyncClient, app: FastAPI, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite stores any value in any column: it has no data errors to map")
    router = APIRouter()

    @router.post("/probe/cast")
    async def cast(value: str, session: DbSession) -> int:
        return int(await session.scalar(sa.text("SELECT CAST(:value AS integer)"), {"value": value}) or 0)

    app.include_router(router)
    response = await client.post("/probe/cast", params={"value": "not a number"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert "SELECT" not in response.text
    assert (await client.post("/probe/cast", params={"value": "7"})).json() == 7


def _nested(depth: int) -> Any:
    """A JSON value that nests `depth` arrays/objects."""
    value: Any = "leaf"
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def _assert_too_deep(response: httpx.Response, loc: list[object]) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"] == [
        {
            "loc": loc,
            "msg": f"JSON nests deeper than {MAX_REQUEST_JSON_DEPTH} arrays/objects",
            "type": "json_too_deep",
        }
    ]


async def test_a_body_nested_past_the_bound_is_422_and_nothing_is_written(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant
) -> None:
    """The reported cases: a config whose params nested 300 deep was stored and then answered 500
    (the response could not be serialised); tools nested 100 deep were stored and read back
    truncated, so agents fetched another config than the one saved."""
    json_headers = {**tenant.headers, "Content-Type": "application/json"}
    agent = await client.post(
        f"{tenant.ws}/agents",
        json={"name": "a", "slug": "a", "config": {"model": "m"}},
        headers=tenant.headers,
    )
    assert agent.status_code == 201, agent.text
    agents, versions = await _count(app, Agent), await _count(app, AgentConfigVersion)
    too_deep_params = {"model": "m", "params": {"x": _nested(300)}}
    _assert_too_deep(
        await client.post(
            f"{tenant.ws}/agents/{agent.json()['id']}/versions", json=too_deep_params, headers=tenant.headers
        ),
        ["body"],
    )
    too_deep_tools = {"name": "b", "slug": "b", "config": {"model": "m", "tools": [{"schema": _nested(100)}]}}
    _assert_too_deep(
        await client.post(f"{tenant.ws}/agents", json=too_deep_tools, headers=tenant.headers), ["body"]
    )
    # Too deep for the parser itself: the same problem, not a 400 about parsing.
    unparseable = (
        b'{"name": "c", "slug": "c", "config": {"model": "m", "tools": [' + b"[" * 5000 + b"]" * 5000 + b"]}}"
    )
    _assert_too_deep(
        await client.post(f"{tenant.ws}/agents", content=unparseable, headers=json_headers), ["body"]
    )
    assert (await _count(app, Agent), await _count(app, AgentConfigVersion)) == (agents, versions)


async def test_a_body_at_the_bound_is_stored_and_reads_back_whole(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # The body object and "params": two levels around the value.
    config = {"model": "m", "params": {"x": _nested(MAX_REQUEST_JSON_DEPTH - 2)}}
    agent = await client.post(f"{tenant.ws}/agents", json={"name": "d", "slug": "d"}, headers=tenant.headers)
    created = await client.post(
        f"{tenant.ws}/agents/{agent.json()['id']}/versions", json=config, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    read = await client.get(
        f"{tenant.ws}/agents/{agent.json()['id']}/versions/{created.json()['number']}", headers=tenant.headers
    )
    assert read.status_code == 200, read.text
    assert read.json()["config"]["params"]["x"] == config["params"]["x"]
    assert "truncated" not in read.text


def _fill(path: str, workspace_id: uuid.UUID) -> str:
    values = {"workspace_id": str(workspace_id), "number": "1", "name": "n", "model": "m"}
    return re.sub(r"{(\w+)(?::path)?}", lambda m: values.get(m[1], str(uuid.uuid4())), path)


async def test_every_json_body_is_held_to_the_nesting_bound(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant
) -> None:
    """Found by walking the app's own OpenAPI document, so a route added later is covered: every
    operation that takes JSON refuses a body one level too deep, before its handler runs, except
    the span ingest routes, which bound each span themselves (a span too deep is rejected alone),
    and the JSON lines import, which bounds and reports each line."""
    body = json.dumps({"k": _nested(MAX_REQUEST_JSON_DEPTH)}).encode()
    headers = {**tenant.headers, "Content-Type": "application/json"}
    checked, exempt = [], []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if operation.get(DECODES_OWN_VALUES_EXTENSION) or operation.get(BOUNDS_OWN_NESTING_EXTENSION):
                exempt.append(path)
                continue
            if "application/json" not in operation.get("requestBody", {}).get("content", {}):
                continue
            url = _fill(path, tenant.workspace_id)
            _assert_too_deep(
                await client.request(method.upper(), url, content=body, headers=headers), ["body"]
            )
            checked.append(f"{method} {path}")
    assert len(checked) > 40
    assert sorted(exempt) == [
        "/api/v1/workspaces/{workspace_id}/samples/{set_id}/import",
        "/api/v1/workspaces/{workspace_id}/traces",
        "/otel/v1/traces",
    ]


async def test_a_content_encoding_cannot_carry_a_body_past_the_checks(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant
) -> None:
    """The checks skipped any body with a Content-Encoding, and the app read such a body as it
    came: `Content-Encoding: identity` (or a plain body labelled gzip) stored NUL and a 77-bit
    integer on SQLite and bypassed the nesting bound. Identity is checked like no encoding; any
    other is 415 on every route but OTLP, which inflates gzip itself."""
    body = b'{"name": "bad\\u0000name", "slug": "enc", "config": {"model": "m", "params": {"seed": 99999999999999999999999}}}'
    before = await _count(app, Agent)
    identity = await client.post(
        f"{tenant.ws}/agents",
        content=body,
        headers={**tenant.headers, "Content-Type": "application/json", "Content-Encoding": "identity"},
    )
    _assert_422(identity, ["body", "name"], ["body", "config", "params", "seed"])
    for encoding in ("gzip", "deflate", "br", "x-anything"):
        refused = await client.post(
            f"{tenant.ws}/agents",
            content=body,
            headers={**tenant.headers, "Content-Type": "application/json", "Content-Encoding": encoding},
        )
        assert refused.status_code == 415, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert f"Content-Encoding '{encoding}' is not supported here" in refused.json()["detail"]
    assert await _count(app, Agent) == before
    # A request without a body is not refused for the header.
    listed = await client.get(f"{tenant.ws}/agents", headers={**tenant.headers, "Content-Encoding": "gzip"})
    assert listed.status_code == 200
