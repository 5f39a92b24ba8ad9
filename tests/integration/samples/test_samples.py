"""Sample sets: CRUD, batch add deduplicated by input, JSONL import that is all or nothing with
per-line errors, and the loader scans use."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant
from spectral.engine.types import Message
from spectral.platform.identity.scopes import Scope, WorkspaceRole
from spectral.platform.samples import service
from spectral.platform.shared.db import Database

pytestmark = pytest.mark.both_backends

JSONL = {"Content-Type": "application/jsonl"}


async def create_set(client: httpx.AsyncClient, tenant: Tenant, name: str = "Regression") -> dict[str, Any]:
    response = await client.post(f"{tenant.ws}/samples", json={"name": name}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_sample_set_crud(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(
        f"{tenant.ws}/samples",
        json={"name": "Regression", "description": "known hard claims"},
        headers=tenant.headers,
    )
    assert created.status_code == 201
    sample_set = created.json()
    assert created.headers["location"] == f"{tenant.ws}/samples/{sample_set['id']}"
    assert sample_set["item_count"] == 0
    duplicate = await client.post(f"{tenant.ws}/samples", json={"name": "Regression"}, headers=tenant.headers)
    assert duplicate.status_code == 409
    patched = await client.patch(
        f"{tenant.ws}/samples/{sample_set['id']}", json={"name": "Renamed"}, headers=tenant.headers
    )
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["description"] == "known hard claims"
    listed = await client.get(f"{tenant.ws}/samples", headers=tenant.headers)
    assert [s["name"] for s in listed.json()["results"]] == ["Renamed"]
    bad_agent = await client.patch(
        f"{tenant.ws}/samples/{sample_set['id']}",
        json={"agent_id": str(uuid.uuid4())},
        headers=tenant.headers,
    )
    assert bad_agent.status_code == 422
    assert (
        await client.delete(f"{tenant.ws}/samples/{sample_set['id']}", headers=tenant.headers)
    ).status_code == 204
    assert (
        await client.get(f"{tenant.ws}/samples/{sample_set['id']}", headers=tenant.headers)
    ).status_code == 404


async def test_batch_add_dedupes_by_input(client: httpx.AsyncClient, tenant: Tenant) -> None:
    sample_set = await create_set(client, tenant)
    items_url = f"{tenant.ws}/samples/{sample_set['id']}/items"
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Is water wet?"}]
    first = await client.post(
        items_url,
        json={
            "items": [
                {"input": "Is the sky green?", "expected_output": "false", "metadata": {"topic": "sky"}},
                {"input": messages, "source_trace_id": "a" * 32},
                {"input": "Is the sky green?", "expected_output": "different label, same input"},
            ]
        },
        headers=tenant.headers,
    )
    assert first.status_code == 201
    assert (first.json()["added"], first.json()["duplicates"]) == (2, 1)
    assert first.json()["items"][1]["input"] == messages
    again = await client.post(
        items_url, json={"items": [{"input": "Is the sky green?"}, {"input": "new"}]}, headers=tenant.headers
    )
    assert (again.json()["added"], again.json()["duplicates"]) == (1, 1)
    listed = (await client.get(items_url, headers=tenant.headers)).json()
    assert listed["pagination"]["total"] == 3
    assert (await client.get(f"{tenant.ws}/samples/{sample_set['id']}", headers=tenant.headers)).json()[
        "item_count"
    ] == 3

    item_id = listed["results"][0]["id"]
    assert (await client.delete(f"{items_url}/{item_id}", headers=tenant.headers)).status_code == 204
    assert (await client.delete(f"{items_url}/{item_id}", headers=tenant.headers)).status_code == 404

    invalid = await client.post(
        items_url,
        json={
            "items": [
                {"input": ""},
                {"input": [{"role": "user"}]},
                {"input": "x", "source_trace_id": "nothex"},
            ]
        },
        headers=tenant.headers,
    )
    assert invalid.status_code == 422
    locs = {tuple(err["loc"][:4]) for err in invalid.json()["errors"]}
    assert ("body", "items", 0, "input") in locs
    assert ("body", "items", 2, "source_trace_id") in locs


async def test_jsonl_import_is_all_or_nothing_with_line_numbers(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    sample_set = await create_set(client, tenant)
    url = f"{tenant.ws}/samples/{sample_set['id']}/import"
    bad = "\n".join(
        [
            json.dumps({"input": "ok one", "expected_output": "yes"}),
            "{not json",
            "",
            json.dumps(["an", "array"]),
            json.dumps({"input": "x", "unexpected": 1}),
            json.dumps({"expected_output": "no input"}),
        ]
    )
    response = await client.post(url, content=bad.encode(), headers={**tenant.headers, **JSONL})
    assert response.status_code == 422
    problem = response.json()
    assert problem["detail"] == "4 line(s) are invalid; nothing was imported"
    by_line = {(err["line"], tuple(err["loc"])) for err in problem["errors"]}
    assert (2, ("body", 2)) in by_line
    assert (4, ("body", 4)) in by_line
    assert (5, ("body", 5, "unexpected")) in by_line
    assert (6, ("body", 6, "input")) in by_line
    assert next(err for err in problem["errors"] if err["line"] == 2)["type"] == "json_invalid"
    items = (await client.get(f"{tenant.ws}/samples/{sample_set['id']}/items", headers=tenant.headers)).json()
    assert items["pagination"]["total"] == 0

    good = "\n".join(
        json.dumps({"input": f"claim {i}", "expected_output": str(i % 2 == 0)}) for i in range(50)
    )
    good += "\n" + json.dumps({"input": "claim 0"}) + "\n\n"
    imported = await client.post(url, content=good.encode(), headers={**tenant.headers, **JSONL})
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"lines": 51, "added": 50, "duplicates": 1}


async def test_jsonl_import_refuses_other_media_types_and_empty_files(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    sample_set = await create_set(client, tenant)
    url = f"{tenant.ws}/samples/{sample_set['id']}/import"
    wrong = await client.post(
        url, content=b'{"input": "x"}', headers={**tenant.headers, "Content-Type": "image/png"}
    )
    assert wrong.status_code == 415
    empty = await client.post(url, content=b"\n\n", headers={**tenant.headers, **JSONL})
    assert empty.status_code == 422
    latin1 = await client.post(
        url, content='{"input": "caf\xe9"}'.encode("latin-1"), headers={**tenant.headers, **JSONL}
    )
    assert latin1.status_code == 422
    assert latin1.json()["errors"][0]["loc"] == ["body"]
    missing = await client.post(
        f"{tenant.ws}/samples/{uuid.uuid4()}/import",
        content=b'{"input": "x"}',
        headers={**tenant.headers, **JSONL},
    )
    assert missing.status_code == 404


async def test_jsonl_import_over_the_size_limit(
    client: httpx.AsyncClient, tenant: Tenant, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample_set = await create_set(client, tenant)
    monkeypatch.setattr(settings, "max_request_bytes", 1024)
    body = "\n".join(json.dumps({"input": f"claim {i} " + "x" * 40}) for i in range(100)).encode()
    response = await client.post(
        f"{tenant.ws}/samples/{sample_set['id']}/import", content=body, headers={**tenant.headers, **JSONL}
    )
    assert response.status_code == 413


async def test_tenancy_and_scopes(client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    sample_set = await create_set(client, tenant)
    foreign = f"{other_tenant.ws}/samples/{sample_set['id']}"
    assert (await client.get(foreign, headers=other_tenant.headers)).status_code == 404
    assert (await client.get(f"{foreign}/items", headers=other_tenant.headers)).status_code == 404
    added = await client.post(
        f"{foreign}/items", json={"items": [{"input": "x"}]}, headers=other_tenant.headers
    )
    assert added.status_code == 404
    viewer = await tenant.member(WorkspaceRole.VIEWER)
    assert (await client.get(f"{tenant.ws}/samples", headers=viewer)).status_code == 200
    assert (await client.post(f"{tenant.ws}/samples", json={"name": "v"}, headers=viewer)).status_code == 403
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.READ_AGENTS])}"}
    assert (await client.get(f"{tenant.ws}/samples", headers=key)).status_code == 403


async def test_replay_inputs_for_scans(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    sample_set = await create_set(client, tenant)
    await client.post(
        f"{tenant.ws}/samples/{sample_set['id']}/items",
        json={
            "items": [
                {"input": "plain", "expected_output": "out", "metadata": {"k": 1}},
                {"input": [{"role": "user", "content": "hi"}]},
            ]
        },
        headers=tenant.headers,
    )
    async with db.session() as session:
        inputs = await service.load_replay_inputs(session, tenant.workspace_id, uuid.UUID(sample_set["id"]))
    by_input = {str(i.input): i for i in inputs}
    assert by_input["plain"].expected_output == "out"
    assert by_input["plain"].metadata == {"k": 1}
    assert (Message(role="user", content="hi"),) in [i.input for i in inputs]
    assert all(i.sample_id for i in inputs)
