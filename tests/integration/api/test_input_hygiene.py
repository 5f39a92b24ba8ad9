"""Issue 10 item 5: ordinary bad input is a 422 problem on both backends, never a 500, and
nothing is written. NUL characters anywhere in text, integers past 64 bits, non-finite numbers."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI

from fixtures_identity import TEST_PASSWORD, Tenant
from spectral.platform.agents.models import Agent
from spectral.platform.identity.models import User
from spectral.platform.shared.schema_types import INT64_MAX
from spectral_api.dependencies import DbSession

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
