"""Issue 10 (the contract matches the server): a request value of another JSON type than its schema
states is a 422 naming it, never coerced. Pydantic's lax mode would read `0.5` as a date-time, `1`
or `"yes"` as `true`, `true` or `"5"` as a number. PATCH fields that may be left out but not
cleared are not nullable in the schema, and `null` is a 422.

The first test walks the app's own OpenAPI document, so every typed field of every JSON body and
every typed query parameter is covered, including the ones added later."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fixtures_identity import TEST_PASSWORD, Tenant, bearer
from spectral.platform.identity.models import Workspace
from spectral.platform.identity.operators import grant_operator
from spectral.platform.identity.scopes import OperationsRole
from spectral.platform.shared.settings import Settings
from spectral.platform.traces.models import Span

pytestmark = pytest.mark.both_backends

PROBLEM = "application/problem+json"

# What lax parsing would have accepted, per JSON Schema type: in a JSON body and in a query string.
WRONG_IN_BODY: dict[str, list[Any]] = {
    "boolean": [0, 1, "true", "yes"],
    "integer": [True, "5"],
    "number": [True, "0.5"],
    "date-time": [0.5, 1_700_000_000, "1700000000"],
}
WRONG_IN_QUERY: dict[str, list[str]] = {
    "boolean": ["1", "0", "yes", "on"],
    "date-time": ["0.5", "1700000000"],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Hundreds of requests from one user: the per-principal limit is not what is tested here.
    return settings.model_copy(update={"rate_limit_api_per_minute": 100_000})


def _kind(schema: dict[str, Any]) -> str | None:
    if schema.get("format") == "date-time":
        return "date-time"
    kind = schema.get("type")
    return kind if kind in ("boolean", "integer", "number") else None


def _typed_locations(
    schema: dict[str, Any],
    components: dict[str, Any],
    loc: tuple[Any, ...],
    seen: frozenset[str] = frozenset(),
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every (location, kind) of a typed scalar in a request schema; array items at index 0."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _typed_locations(components[name], components, loc, seen | {name})
        return
    variants = [v for v in schema.get("anyOf", []) + schema.get("oneOf", []) if v != {"type": "null"}]
    if len(variants) > 1:
        return  # a union of types (feedback's `value`): each is right, its kind checks the rest
    for variant in variants + schema.get("allOf", []):
        yield from _typed_locations(variant, components, loc, seen)
    kind = _kind(schema)
    if kind is not None:
        yield loc, kind
    for name, sub in schema.get("properties", {}).items():
        yield from _typed_locations(sub, components, (*loc, name), seen)
    if isinstance(schema.get("items"), dict):
        yield from _typed_locations(schema["items"], components, (*loc, 0), seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _typed_locations(schema["additionalProperties"], components, (*loc, "k"), seen)


def _body_with(loc: tuple[Any, ...], value: Any) -> Any:
    """The smallest JSON document with `value` at `loc` (ints are list indexes)."""
    if not loc:
        return value
    head, rest = loc[0], loc[1:]
    return [_body_with(rest, value)] if isinstance(head, int) else {head: _body_with(rest, value)}


def _url(path: str, tenant: Tenant) -> str:
    def fill(part: str) -> str:
        if part == "{workspace_id}":
            return str(tenant.workspace_id)
        if part == "{number}":
            return "1"
        return str(uuid.uuid4()) if part.startswith("{") else part

    return "/".join(fill(part) for part in path.split("/"))


async def _operator_headers(app: FastAPI) -> dict[str, str]:
    state = app.state.spectral
    async with state.db.session() as session:
        grant = await grant_operator(
            session,
            f"ops-{uuid.uuid4().hex[:8]}@example.com",
            OperationsRole.ADMIN,
            password=TEST_PASSWORD,
            passwords=state.passwords,
        )
    return bearer(state.tokens.issue(grant.user.id, generation=0).token)


def _refused_at(response: httpx.Response, loc: list[Any]) -> bool:
    if response.status_code != 422 or response.headers["content-type"] != PROBLEM:
        return False
    return any(error["loc"][: len(loc)] == loc for error in response.json().get("errors", []))


async def test_every_typed_request_value_refuses_the_other_json_types(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant
) -> None:
    openapi = app.openapi()
    components = openapi["components"]["schemas"]
    operator = await _operator_headers(app)
    checked = 0
    coerced: list[str] = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            headers = operator if path.startswith("/api/v1/operations") else tenant.headers
            url = _url(path, tenant)
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                for _, kind in _typed_locations(parameter["schema"], components, ()):
                    for wrong in WRONG_IN_QUERY.get(kind, []):
                        response = await client.request(
                            method, url, params={parameter["name"]: wrong}, headers=headers
                        )
                        checked += 1
                        if not _refused_at(response, ["query", parameter["name"]]):
                            coerced.append(
                                f"{method.upper()} {path} ?{parameter['name']}={wrong}: {response.text}"
                            )
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            for loc, kind in _typed_locations(content["application/json"]["schema"], components, ()):
                for wrong in WRONG_IN_BODY[kind]:
                    response = await client.request(method, url, json=_body_with(loc, wrong), headers=headers)
                    checked += 1
                    if not _refused_at(response, ["body", *loc]):
                        coerced.append(f"{method.upper()} {path} body{list(loc)}={wrong!r}: {response.text}")
    assert checked > 200
    assert not coerced, "\n".join(coerced)


async def test_iso_8601_text_and_json_numbers_are_still_read(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    listed = await client.get(
        f"{tenant.ws}/traces",
        params={"start": "2026-01-01T00:00:00Z", "has_feedback": "false", "min_score": "0.5"},
        headers=tenant.headers,
    )
    assert listed.status_code == 200, listed.text
    briefing = await client.get(
        f"{tenant.ws}/morning-briefing", params={"since": "2026-01-01T00:00:00+01:00"}, headers=tenant.headers
    )
    assert briefing.status_code == 200, briefing.text
    assert briefing.json()["since"] == "2025-12-31T23:00:00Z"
    # An integer is a number: a guardrail in whole dollars is fine.
    autonomy = await client.put(
        f"{tenant.ws}/autonomy", json={"guardrails": {"nightly_budget_usd": 7}}, headers=tenant.headers
    )
    assert autonomy.status_code == 200, autonomy.text
    assert autonomy.json()["guardrails"]["nightly_budget_usd"] == 7.0


async def _count(app: FastAPI, model: type) -> int:
    async with app.state.spectral.db.session() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def test_the_reported_coercions_are_422_and_nothing_changes(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant
) -> None:
    for path, params, loc in (
        ("/morning-briefing", {"since": "0.5"}, ["query", "since"]),
        ("/traces", {"start": "0.5"}, ["query", "start"]),
        ("/traces", {"has_feedback": "1"}, ["query", "has_feedback"]),
    ):
        response = await client.get(f"{tenant.ws}{path}", params=params, headers=tenant.headers)
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["errors"]] == [loc]

    before = (await client.get(f"{tenant.ws}/autonomy", headers=tenant.headers)).json()
    for budget in (False, "5"):
        response = await client.put(
            f"{tenant.ws}/autonomy",
            json={"level": "observe", "guardrails": {"nightly_budget_usd": budget}},
            headers=tenant.headers,
        )
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["errors"]] == [["body", "guardrails", "nightly_budget_usd"]]
    assert (await client.get(f"{tenant.ws}/autonomy", headers=tenant.headers)).json() == before

    spans = await _count(app, Span)
    span = {
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "name": "llm",
        "start_time_unix_nano": "1700000000000000000",
        "events": [{"name": "e", "time_unix_nano": True}],
    }
    response = await client.post(f"{tenant.ws}/traces", json={"spans": [span]}, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert sorted(e["loc"] for e in response.json()["errors"]) == [
        ["body", "spans", 0, "events", 0, "time_unix_nano"],
        ["body", "spans", 0, "start_time_unix_nano"],
    ]
    assert await _count(app, Span) == spans


async def test_a_patch_field_that_cannot_be_cleared_refuses_null_and_says_so_in_the_schema(
    client: httpx.AsyncClient, app: FastAPI, tenant: Tenant
) -> None:
    components = app.openapi()["components"]["schemas"]
    for schema, field in (
        ("WorkspaceUpdate", "name"),
        ("RubricUpdate", "name"),
        ("RubricUpdate", "dimensions"),
        ("ObjectiveUpdate", "weights"),
        ("AgentUpdate", "slug"),
        ("SampleSetUpdate", "name"),
        ("ModelConfigUpdate", "enabled"),
    ):
        declared = components[schema]["properties"][field]
        assert "anyOf" not in declared, (schema, field, declared)
        assert declared.get("type") != "null", (schema, field, declared)
    # What may be cleared stays nullable.
    assert {"type": "null"} in components["WorkspaceUpdate"]["properties"]["description"]["anyOf"]

    async with app.state.spectral.db.session() as session:
        name_before = await session.scalar(
            sa.select(Workspace.name).where(Workspace.id == tenant.workspace_id)
        )
    response = await client.patch(tenant.ws, json={"name": None, "description": "x"}, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [(["body", "name"], "not_null")]
    async with app.state.spectral.db.session() as session:
        workspace = await session.scalar(sa.select(Workspace).where(Workspace.id == tenant.workspace_id))
    assert workspace is not None
    assert workspace.name == name_before
    assert workspace.description != "x"
