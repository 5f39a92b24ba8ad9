"""Rubrics and objectives: CRUD, scorer params validated per type with pointers, objectives checked
against their rubric, tenancy and the audit log."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlmodel import select

from fixtures_identity import Tenant
from spectral.engine import types as engine
from spectral.platform.evaluations import service
from spectral.platform.identity.scopes import Scope, WorkspaceRole
from spectral.platform.shared.db import Database
from spectral.platform.workspaces.models import AuditLogEntry

pytestmark = pytest.mark.both_backends

DIMENSIONS: list[dict[str, Any]] = [
    {"key": "format", "name": "JSON output", "weight": 2, "threshold": 1, "scorer": {"type": "json_valid"}},
    {
        "key": "verdict",
        "description": "states a verdict",
        "weight": 1,
        "threshold": 1,
        "scorer": {"type": "regex", "params": {"pattern": "(true|false)"}},
    },
    {"key": "fast", "scorer": {"type": "latency_max_ms", "params": {"max_ms": 2000}}, "threshold": 1},
]


async def create_rubric(client: httpx.AsyncClient, tenant: Tenant, name: str = "Quality") -> dict[str, Any]:
    response = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": name, "dimensions": DIMENSIONS},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    rubric: dict[str, Any] = response.json()
    return rubric


async def test_rubric_crud(client: httpx.AsyncClient, tenant: Tenant) -> None:
    rubric = await create_rubric(client, tenant)
    base = f"{tenant.ws}/evaluations/rubrics"
    assert rubric["dimensions"][0] == {
        "key": "format",
        "name": "JSON output",
        "description": "",
        "weight": 2.0,
        "threshold": 1.0,
        "scorer": {"type": "json_valid", "params": {}},
    }
    assert rubric["dimensions"][2]["name"] == "fast"
    assert (await client.get(f"{base}/{rubric['id']}", headers=tenant.headers)).json() == rubric
    assert (await client.get(base, headers=tenant.headers)).json()["pagination"]["total"] == 1

    patched = await client.patch(
        f"{base}/{rubric['id']}",
        json={"name": "Quality v2", "dimensions": DIMENSIONS[:1]},
        headers=tenant.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Quality v2"
    assert [d["key"] for d in patched.json()["dimensions"]] == ["format"]

    duplicate = await client.post(
        base, json={"name": "Quality v2", "dimensions": DIMENSIONS}, headers=tenant.headers
    )
    assert duplicate.status_code == 409
    assert (await client.delete(f"{base}/{rubric['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"{base}/{rubric['id']}", headers=tenant.headers)).status_code == 404


async def test_scorer_params_are_validated_with_pointers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    dimensions = [
        DIMENSIONS[0],
        {"key": "format", "scorer": {"type": "json_valid"}},
        {"key": "pattern", "scorer": {"type": "regex", "params": {"pattern": "(unclosed"}}},
        {"key": "typo", "scorer": {"type": "length", "params": {"max_chars": 10, "max_char": 10}}},
        {"key": "nope", "scorer": {"type": "vibes"}},
        {"key": "budget", "scorer": {"type": "cost_max_usd", "params": {"max_usd": -1}}},
    ]
    response = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": "Bad", "dimensions": dimensions},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "https://spectral.dev/errors/validation-error"
    locs = [err["loc"] for err in body["errors"]]
    assert ["body", "dimensions", 1, "key"] in locs
    assert ["body", "dimensions", 2, "scorer", "params", "pattern"] in locs
    assert ["body", "dimensions", 3, "scorer", "params", "max_char"] in locs
    assert ["body", "dimensions", 4, "scorer", "type"] in locs
    assert ["body", "dimensions", 5, "scorer", "params", "max_usd"] in locs


async def test_dimension_fields_are_validated_by_the_schema(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={
            "name": "Bad",
            "dimensions": [
                {"key": "Bad Key", "weight": 0, "threshold": 1.5, "scorer": {"type": "json_valid"}}
            ],
        },
        headers=tenant.headers,
    )
    assert response.status_code == 422
    locs = {tuple(err["loc"]) for err in response.json()["errors"]}
    assert {
        ("body", "dimensions", 0, "key"),
        ("body", "dimensions", 0, "weight"),
        ("body", "dimensions", 0, "threshold"),
    } <= locs
    empty = await client.post(
        f"{tenant.ws}/evaluations/rubrics", json={"name": "Empty", "dimensions": []}, headers=tenant.headers
    )
    assert empty.status_code == 422
    unknown_agent = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": "A", "agent_id": str(uuid.uuid4()), "dimensions": DIMENSIONS},
        headers=tenant.headers,
    )
    assert unknown_agent.status_code == 422
    assert unknown_agent.json()["errors"][0]["loc"] == ["body", "agent_id"]


async def test_objective_crud_and_rubric_checks(client: httpx.AsyncClient, tenant: Tenant) -> None:
    rubric = await create_rubric(client, tenant)
    base = f"{tenant.ws}/evaluations/objectives"
    body = {
        "name": "Balanced",
        "rubric_id": rubric["id"],
        "weights": {"quality": 1, "cost": 0.5, "latency": 0.2},
        "constraints": {
            "max_cost_usd_per_trace": 0.01,
            "max_p95_latency_ms": 3000,
            "min_dimension": {"format": 0.9},
        },
    }
    created = await client.post(base, json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    objective = created.json()
    assert created.headers["location"].endswith(objective["id"])
    assert objective["weights"] == {"quality": 1.0, "cost": 0.5, "latency": 0.2}
    assert objective["constraints"]["min_dimension"] == {"format": 0.9}
    assert (await client.get(f"{base}/{objective['id']}", headers=tenant.headers)).json() == objective
    listed = await client.get(base, params={"rubric_id": rubric["id"]}, headers=tenant.headers)
    assert listed.json()["pagination"]["total"] == 1

    unknown_key = await client.post(
        base,
        json={**body, "name": "Other", "constraints": {"min_dimension": {"formatt": 0.5, "format": 0.5}}},
        headers=tenant.headers,
    )
    assert unknown_key.status_code == 422
    assert [e["loc"] for e in unknown_key.json()["errors"]] == [
        ["body", "constraints", "min_dimension", "formatt"]
    ]
    no_rubric = await client.post(
        base, json={**body, "name": "Other", "rubric_id": str(uuid.uuid4())}, headers=tenant.headers
    )
    assert no_rubric.status_code == 422
    assert no_rubric.json()["errors"][0]["loc"] == ["body", "rubric_id"]
    zero = await client.post(
        base,
        json={**body, "name": "Other", "weights": {"quality": 0, "cost": 0, "latency": 0}},
        headers=tenant.headers,
    )
    assert zero.status_code == 422
    assert zero.json()["errors"][0]["loc"] == ["body", "weights"]
    duplicate = await client.post(base, json=body, headers=tenant.headers)
    assert duplicate.status_code == 409

    # The rubric cannot lose a dimension an objective constrains, nor be deleted while used.
    rubric_url = f"{tenant.ws}/evaluations/rubrics/{rubric['id']}"
    shrink = await client.patch(rubric_url, json={"dimensions": DIMENSIONS[1:]}, headers=tenant.headers)
    assert shrink.status_code == 400
    assert shrink.json()["type"] == "https://spectral.dev/errors/business-rule-violation"
    in_use = await client.delete(rubric_url, headers=tenant.headers)
    assert in_use.status_code == 409

    patched = await client.patch(
        f"{base}/{objective['id']}",
        json={"weights": {"quality": 1}, "constraints": {"min_dimension": {"verdict": 1}}},
        headers=tenant.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["weights"] == {"quality": 1.0, "cost": 0.0, "latency": 0.0}
    bad_patch = await client.patch(
        f"{base}/{objective['id']}",
        json={"constraints": {"min_dimension": {"ghost": 1}}},
        headers=tenant.headers,
    )
    assert bad_patch.status_code == 422
    assert (await client.delete(f"{base}/{objective['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.delete(rubric_url, headers=tenant.headers)).status_code == 204


async def test_tenancy_and_scopes(client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    rubric = await create_rubric(client, tenant)
    foreign = await client.get(
        f"{other_tenant.ws}/evaluations/rubrics/{rubric['id']}", headers=other_tenant.headers
    )
    assert foreign.status_code == 404
    cross = await client.post(
        f"{other_tenant.ws}/evaluations/objectives",
        json={"name": "X", "rubric_id": rubric["id"]},
        headers=other_tenant.headers,
    )
    assert cross.status_code == 422
    viewer = await tenant.member(WorkspaceRole.VIEWER)
    assert (await client.get(f"{tenant.ws}/evaluations/rubrics", headers=viewer)).status_code == 200
    denied = await client.post(
        f"{tenant.ws}/evaluations/rubrics", json={"name": "V", "dimensions": DIMENSIONS}, headers=viewer
    )
    assert denied.status_code == 403
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.READ_AGENTS, Scope.WRITE_TRACES])}"}
    assert (await client.get(f"{tenant.ws}/evaluations/rubrics", headers=key)).status_code == 403
    assert (await client.get(f"{tenant.ws}/evaluations/objectives", headers=key)).status_code == 403


async def test_loaders_return_engine_types(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    rubric = await create_rubric(client, tenant)
    objective = (
        await client.post(
            f"{tenant.ws}/evaluations/objectives",
            json={"name": "O", "rubric_id": rubric["id"], "constraints": {"min_dimension": {"fast": 1}}},
            headers=tenant.headers,
        )
    ).json()
    async with db.session() as session:
        loaded = await service.load_rubric(session, tenant.workspace_id, uuid.UUID(rubric["id"]))
        loaded_objective, rubric_id = await service.load_objective(
            session, tenant.workspace_id, uuid.UUID(objective["id"])
        )
        audit = (
            await session.exec(
                select(AuditLogEntry.action).where(AuditLogEntry.workspace_id == tenant.workspace_id)
            )
        ).all()
    assert loaded.name == "Quality"
    assert loaded.dimension("verdict").scorer == engine.ScorerSpec(
        engine.ScorerType.REGEX, {"pattern": "(true|false)"}
    )
    assert loaded.dimension("format").weight == 2.0
    assert loaded_objective.constraints.min_dimension == {"fast": 1.0}
    assert loaded_objective.weights == engine.ObjectiveWeights()
    assert str(rubric_id) == rubric["id"]
    assert {"rubric.create", "objective.create"} <= set(audit)
