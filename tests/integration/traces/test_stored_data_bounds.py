"""What is stored can always be read. Ingest bounds what it stores (deep or huge attributes are
rejected per span, counted, and nothing else is lost); rows that are already in the database —
written before the bounds, or by hand, here with raw SQL — read on every path: trace detail, list
(with filters), dashboard, samples from traces and the scans' trace loader. Valid but awkward span
graphs (a 200-span chain, cycles of parents) read too."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fixtures_identity import Tenant
from integration.traces.otlp_payloads import attributes, request, span, trace_id
from spectral.platform.identity.scopes import Scope
from spectral.platform.samples.schemas import MAX_METADATA_DEPTH
from spectral.platform.shared.db import Database
from spectral.platform.shared.stored_json import TRUNCATED_MARKER
from spectral.platform.traces import queries
from spectral.platform.traces.bounds import MAX_VALUE_DEPTH
from spectral.platform.traces.service import MAX_TREE_DEPTH

pytestmark = pytest.mark.both_backends

T0 = 1_700_000_000_000_000_000


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for index in range(depth):
        value = {"k": value} if index % 2 else [value]
    return value


def native_span(trace: str, span_id: str, parent: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "trace_id": trace,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": f"step {span_id}",
        "start_time_unix_nano": T0 + int(span_id, 16),
        "end_time_unix_nano": T0 + int(span_id, 16) + 1_000_000,
        **fields,
    }


async def count(db: Database, table: str, workspace_id: uuid.UUID) -> int:
    async with db.session() as session:
        statement = sa.text(f"SELECT count(*) FROM {table} WHERE workspace_id = :ws")
        ws = workspace_id if db.dialect == "postgresql" else workspace_id.hex
        return int((await session.execute(statement, {"ws": ws})).scalar_one())


def depth_of_children(spans: list[dict[str, Any]]) -> int:
    return 1 + max((depth_of_children(s["children"]) for s in spans if s["children"]), default=0)


def all_span_ids(spans: list[dict[str, Any]]) -> list[str]:
    return [i for s in spans for i in [s["span_id"], *all_span_ids(s["children"])]]


async def test_deep_attributes_are_rejected_per_span_and_nothing_else_is_lost(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.WRITE_TRACES])}"}
    trace = trace_id()
    deep = span(trace, attrs={"ok": "yes"})
    deep["attributes"] = attributes({"deep": nested(MAX_VALUE_DEPTH + 1)})
    body = request([span(trace, attrs={"fine": nested(MAX_VALUE_DEPTH)}), deep])
    response = await client.post("/otel/v1/traces", json=body, headers=key)
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert f"deeper than {MAX_VALUE_DEPTH}" in partial["errorMessage"]

    native = {
        "spans": [
            native_span(trace_id(), "0000000000000001", attributes={"deep": nested(MAX_VALUE_DEPTH + 5)}),
            native_span(trace_id(), "0000000000000002", attributes={"fine": nested(3)}),
        ]
    }
    result = await client.post(f"{tenant.ws}/traces", json=native, headers=key)
    assert result.status_code == 200, result.text
    assert (result.json()["accepted"], result.json()["rejected"]) == (1, 1)
    assert await count(db, "spans", tenant.workspace_id) == 2
    stats = (await client.get("/otel/v1/traces/stats", headers=key)).json()
    assert (stats["received"], stats["accepted"], stats["rejected"]) == (4, 2, 2)


async def test_json_too_deep_to_parse_is_a_4xx_and_stores_nothing(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    key = {"Authorization": f"Bearer {await tenant.api_key([Scope.WRITE_TRACES])}"}
    too_deep = '{"k":' * 5000 + '"v"' + "}" * 5000
    span_json = json.dumps(native_span(trace_id(), "0000000000000001"))
    native = '{"spans": [' + span_json[:-1] + f', "attributes": {{"deep": {too_deep}}}}}]}}'
    headers = {**key, "Content-Type": "application/json"}
    response = await client.post(f"{tenant.ws}/traces", content=native, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    otlp = '{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": %s}]}}]}' % (
        '{"kvlistValue": {"values": [{"key": "k", "value": ' * 400 + '{"stringValue": "v"}' + "}]}}" * 400
    )
    response = await client.post("/otel/v1/traces", content=otlp, headers=headers)
    assert response.status_code == 400, response.text
    assert await count(db, "spans", tenant.workspace_id) == 0


async def test_a_long_chain_and_cycles_of_parents_read(client: httpx.AsyncClient, tenant: Tenant) -> None:
    chain_trace, cycle_trace = trace_id(), trace_id()
    chain = [native_span(chain_trace, f"{i + 1:016x}", f"{i:016x}" if i else None) for i in range(200)]
    cycle = [
        native_span(cycle_trace, "000000000000000a", "000000000000000b"),
        native_span(cycle_trace, "000000000000000b", "000000000000000a"),
        native_span(cycle_trace, "000000000000000c", "000000000000000c"),
        native_span(cycle_trace, "000000000000000d", "000000000000000a"),
    ]
    for spans in (chain, cycle):
        ingested = await client.post(f"{tenant.ws}/traces", json={"spans": spans}, headers=tenant.headers)
        assert ingested.status_code == 200, ingested.text
        assert ingested.json()["rejected"] == 0

    detail = await client.get(f"{tenant.ws}/traces/{chain_trace}", headers=tenant.headers)
    assert detail.status_code == 200, detail.text
    tree = detail.json()["spans"]
    assert sorted(all_span_ids(tree)) == sorted(s["span_id"] for s in chain)
    assert depth_of_children(tree) == MAX_TREE_DEPTH

    detail = await client.get(f"{tenant.ws}/traces/{cycle_trace}", headers=tenant.headers)
    assert detail.status_code == 200, detail.text
    assert sorted(all_span_ids(detail.json()["spans"])) == sorted(s["span_id"] for s in cycle)


async def _overwrite(db: Database, trace: str, table: str, values: dict[str, str]) -> None:
    """Store JSON text as it is, bypassing every check of the application."""
    cast = "CAST(:{} AS jsonb)" if db.dialect == "postgresql" else ":{}"
    assignments = ", ".join(f"{column} = {cast.format(column)}" for column in values)
    async with db.session() as session:
        result = await session.execute(
            sa.text(f"UPDATE {table} SET {assignments} WHERE trace_id = :trace"),
            {**values, "trace": trace},
        )
        assert result.rowcount >= 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("depth", [300, 3000])
async def test_deep_json_already_stored_reads_on_every_path(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, depth: int
) -> None:
    trace = trace_id()
    llm = native_span(
        trace,
        "0000000000000001",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": [{"role": "user", "content": "Where is my order?"}],
            "gen_ai.output.messages": [{"role": "assistant", "content": "It ships today."}],
        },
    )
    ingested = await client.post(
        f"{tenant.ws}/traces",
        json={"resource": {"service.name": "bot"}, "spans": [llm]},
        headers=tenant.headers,
    )
    assert ingested.status_code == 200, ingested.text

    # json.dumps itself cannot write 3,000 levels: the text is built by hand.
    if depth < 900:
        text = json.dumps(nested(depth))
    else:
        text = '{"k": [' * (depth // 2) + '"leaf"' + "]}" * (depth // 2)
    message_deep = f'[{{"role": "user", "content": "Where is my order?", "extra": {text}}}]'
    await _overwrite(
        db,
        trace,
        "spans",
        {
            "attributes": json.dumps({"gen_ai.request.model": "gpt-4o"})[:-1] + f', "deep": {text}}}',
            "resource_attributes": f'{{"service.name": "bot", "deep": {text}}}',
            "events": f'[{{"name": "e", "time_unix_nano": 1, "attributes": {{"deep": {text}}}}}]',
            "links": f"[{text}]",
            "input_messages": message_deep,
            "output_messages": f"[{text}]",
        },
    )
    await _overwrite(db, trace, "traces", {"input_messages": message_deep, "scores": f'{{"deep": {text}}}'})

    detail = await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)
    assert detail.status_code == 200, detail.text
    assert TRUNCATED_MARKER in detail.text
    [stored] = detail.json()["spans"]
    assert stored["attributes"]["gen_ai.request.model"] == "gpt-4o"  # the shallow rest reads as stored
    for params in ({}, {"q": "order"}, {"model": "gpt-4o"}, {"agent": "bot"}, {"status": "ok"}):
        listed = await client.get(f"{tenant.ws}/traces", params=params, headers=tenant.headers)
        assert listed.status_code == 200, (params, listed.text)
        assert [item["trace_id"] for item in listed.json()["results"]] == [trace], params
    for path in ("control-plane", "morning-briefing", "workflow-overview"):
        response = await client.get(f"{tenant.ws}/{path}", headers=tenant.headers)
        assert response.status_code == 200, (path, response.text)
    samples = await client.post(
        f"{tenant.ws}/samples/from-traces", json={"name": "from deep"}, headers=tenant.headers
    )
    assert samples.status_code == 201, samples.text
    assert samples.json()["traces_read"] == 1
    async with db.session() as session:
        [engine_trace] = await queries.load_engine_traces(session, tenant.workspace_id)
    assert engine_trace.trace_id == trace


async def test_jsonl_sample_import_bounds_nesting_and_is_still_all_or_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await client.post(f"{tenant.ws}/samples", json={"name": "deep"}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    items_url = f"{tenant.ws}/samples/{created.json()['id']}/items"
    headers = {**tenant.headers, "Content-Type": "application/jsonl"}
    lines = [
        json.dumps({"input": "fine", "metadata": {"k": nested(MAX_METADATA_DEPTH - 1)}}),
        '{"input": "too deep to parse", "metadata": ' + '{"k":' * 5000 + "1" + "}" * 5000 + "}",
        json.dumps({"input": "too deep to keep", "metadata": {"k": nested(MAX_METADATA_DEPTH)}}),
    ]
    refused = await client.post(
        f"{tenant.ws}/samples/{created.json()['id']}/import",
        content="\n".join(lines).encode(),
        headers=headers,
    )
    assert refused.status_code == 422, refused.text
    assert {error["line"] for error in refused.json()["errors"]} == {2, 3}
    assert (await client.get(items_url, headers=tenant.headers)).json()["pagination"]["total"] == 0

    batch = await client.post(
        items_url, json={"items": [{"input": "x", "metadata": {"k": nested(40)}}]}, headers=tenant.headers
    )
    assert batch.status_code == 422, batch.text
    accepted = await client.post(
        f"{tenant.ws}/samples/{created.json()['id']}/import", content=lines[0].encode(), headers=headers
    )
    assert accepted.status_code == 200, accepted.text
    assert (await client.get(items_url, headers=tenant.headers)).json()["pagination"]["total"] == 1


async def test_counts_past_what_a_column_holds_are_kept_as_attributes_not_summed(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    trace = trace_id()
    huge = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.output_tokens": 5,
    }
    spans = [
        native_span(trace, f"{i + 1:016x}", attributes={**huge, "gen_ai.usage.input_tokens": value})
        # (An integer past 64 bits never gets this far: the API's edge refuses it with a 422.)
        for i, value in enumerate([2**63 - 1, 2**63 - 1, 2**63 - 1])
    ]
    response = await client.post(f"{tenant.ws}/traces", json={"spans": spans}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 3
    detail = await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)
    assert detail.status_code == 200, detail.text
    assert (detail.json()["input_tokens"], detail.json()["output_tokens"]) == (None, 15)
    assert detail.json()["spans"][0]["attributes"]["gen_ai.usage.input_tokens"] == 2**63 - 1
    assert await count(db, "spans", tenant.workspace_id) == 3
