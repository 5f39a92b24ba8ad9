"""Patterns a rubric carries must run in linear time: what RE2 cannot compile (backreferences,
look-around, the verbose flag) is refused with a 422 pointing at the value, on create and on
update, and nothing is written (no rubric row, no audit entry, the old dimensions kept)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from fixtures_identity import Tenant
from spectral.platform.evaluations.models import Rubric
from spectral.platform.workspaces.models import AuditLogEntry

pytestmark = pytest.mark.both_backends

REGEX_LOC = ["body", "dimensions", 0, "scorer", "params"]


async def _rows(tenant: Tenant) -> tuple[int, int]:
    """(rubrics, audit entries) in the tenant's workspace."""
    async with tenant.state.db.session() as session:
        rubrics = await session.scalar(
            sa.select(sa.func.count()).where(col(Rubric.workspace_id) == tenant.workspace_id)
        )
        audits = await session.scalar(
            sa.select(sa.func.count()).where(col(AuditLogEntry.workspace_id) == tenant.workspace_id)
        )
    return int(rubrics or 0), int(audits or 0)


def _dimension(scorer_type: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"key": "check", "scorer": {"type": scorer_type, "params": params}}


@pytest.mark.parametrize(
    ("scorer_type", "params", "loc", "hint"),
    [
        ("regex", {"pattern": r"(\w+) \1"}, [*REGEX_LOC, "pattern"], "backreferences are not supported"),
        ("regex", {"pattern": r"^(?=.*\d).+$"}, [*REGEX_LOC, "pattern"], "look-ahead is not supported"),
        ("regex", {"pattern": r"(?<!not )ok"}, [*REGEX_LOC, "pattern"], "look-behind is not supported"),
        ("regex", {"pattern": "a b", "flags": "x"}, [*REGEX_LOC, "flags"], "x, verbose, is not supported"),
        ("regex", {"pattern": r"(\pL|\pN|\s){60}!"}, [*REGEX_LOC, "pattern"], "instructions, more than"),
        (
            "no_refusal",
            {"patterns": ["sorry", r"(no)\1"]},
            [*REGEX_LOC, "patterns", 1],
            "backreferences are not supported",
        ),
        (
            "json_schema",
            {"schema": {"properties": {"sku": {"type": "string", "pattern": "^(?!X)[A-Z]+$"}}}},
            [*REGEX_LOC, "schema", "properties", "sku", "pattern"],
            "look-ahead is not supported",
        ),
    ],
)
async def test_a_pattern_re2_cannot_run_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    tenant: Tenant,
    scorer_type: str,
    params: dict[str, Any],
    loc: list[str | int],
    hint: str,
) -> None:
    before = await _rows(tenant)
    response = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": "Hostile", "dimensions": [_dimension(scorer_type, params)]},
        headers=tenant.headers,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["loc"] == loc
    assert hint in error["msg"]
    assert await _rows(tenant) == before


async def test_an_update_with_such_a_pattern_is_refused_and_the_rubric_kept(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    good = [_dimension("regex", {"pattern": r"^\{.*\}$", "flags": "s"})]
    created = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": "Format", "dimensions": good},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    rubric = created.json()
    before = await _rows(tenant)

    response = await client.patch(
        f"{tenant.ws}/evaluations/rubrics/{rubric['id']}",
        json={"name": "Renamed", "dimensions": [_dimension("regex", {"pattern": r"(['\"]).*?\1"})]},
        headers=tenant.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == [*REGEX_LOC, "pattern"]
    assert await _rows(tenant) == before
    stored = await client.get(f"{tenant.ws}/evaluations/rubrics/{rubric['id']}", headers=tenant.headers)
    assert (stored.json()["name"], stored.json()["dimensions"]) == ("Format", rubric["dimensions"])


async def test_a_rubric_stored_before_re2_answers_400_on_suggestions_not_500(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent = await client.post(
        f"{tenant.ws}/agents", json={"name": "Legacy", "slug": "legacy"}, headers=tenant.headers
    )
    rubric_id = uuid.uuid4()
    async with tenant.state.db.session() as session:
        session.add(
            Rubric(
                id=rubric_id,
                workspace_id=tenant.workspace_id,
                agent_id=uuid.UUID(agent.json()["id"]),
                name="Written by an older version",
                dimensions=[
                    {
                        "key": "quoted",
                        "name": "quoted",
                        "description": "",
                        "weight": 1.0,
                        "threshold": 1.0,
                        "scorer": {"type": "regex", "params": {"pattern": r"(['\"]).*\1"}},
                    }
                ],
                created_by="test",
            )
        )
    response = await client.get(
        f"{tenant.ws}/evaluations/rubrics/{rubric_id}/suggestions", headers=tenant.headers
    )
    assert response.status_code == 400, response.text
    assert "update its dimensions" in response.json()["detail"]
    assert "backreferences" in response.json()["detail"]
