"""Traces API: native JSON ingest through the shared normaliser, listing with every filter,
detail, feedback by user and by API key, agent resolution, tenancy, and the query functions
later contexts call (engine traces, LLM prompts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fixtures_identity import Tenant
from integration.traces.otlp_payloads import OPENLLMETRY_ATTRIBUTES, span_id, trace_id
from spectral.engine.types import Message, TraceStatus
from spectral.platform.identity.scopes import Scope
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.traces import queries
from spectral.platform.traces.repository import TraceScore, record_trace_scores

pytestmark = pytest.mark.both_backends

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def native_span(
    trace: str,
    *,
    span: str | None = None,
    parent: str | None = None,
    at: datetime = BASE,
    ms: int = 200,
    attributes: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "trace_id": trace,
        "span_id": span or span_id(),
        "parent_span_id": parent,
        "name": fields.pop("name", "llm call"),
        "start_time": at.isoformat(),
        "end_time": (at + timedelta(milliseconds=ms)).isoformat(),
        "attributes": attributes or {},
        **fields,
    }


def llm(
    trace: str, question: str, answer: str, *, model: str = "gpt-4o-mini", **fields: Any
) -> dict[str, Any]:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.input.messages": [
            {"role": "system", "content": "You answer questions."},
            {"role": "user", "content": question},
        ],
        "gen_ai.output.messages": [{"role": "assistant", "content": answer, "finish_reason": "stop"}],
        **fields.pop("attributes", {}),
    }
    return native_span(trace, attributes=attributes, **fields)


async def ingest(
    client: httpx.AsyncClient, tenant: Tenant, spans: list[dict[str, Any]], **resource: Any
) -> dict[str, Any]:
    body = {"resource": {"service.name": "helpdesk", **resource}, "spans": spans}
    response = await client.post(f"{tenant.ws}/traces", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def list_ids(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> list[str]:
    response = await client.get(f"{tenant.ws}/traces", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [item["trace_id"] for item in response.json()["results"]]


async def test_native_ingest_uses_the_same_normaliser(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trace = trace_id()
    result = await ingest(client, tenant, [native_span(trace, attributes=OPENLLMETRY_ATTRIBUTES)])
    assert result == {"accepted": 1, "rejected": 0, "errors": [], "trace_ids": [trace]}
    detail = (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).json()
    assert detail["model"] == "gpt-4o-2024-08-06"
    assert detail["input"][-1] == {"role": "user", "content": "Is the sky green?"}
    assert detail["output"] == "No, it is blue."
    assert detail["cost_usd"] == pytest.approx((1200 * 2.5 + 300 * 10.0) / 1e6)
    assert detail["feedback_summary"] == {"count": 0, "mean_score": None}
    # RFC 3339 UTC on both backends (SQLite hands back naive times).
    assert detail["start_time"].endswith("Z")
    assert detail["spans"][0]["end_time"].endswith("Z")
    assert detail["duration_ms"] == 200


async def test_native_ingest_rejects_bad_spans_individually(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    good, bad = trace_id(), native_span("nope")
    result = await ingest(client, tenant, [native_span(good), bad, {**native_span(good), "end_time": None}])
    assert (result["accepted"], result["rejected"]) == (1, 2)
    # Each reason says where the span is in the request, as a validation error's `loc` would.
    assert [error.split(":")[0] for error in result["errors"]] == ["spans[1]", "spans[2]"]
    assert "invalid trace id 'nope': 32 hex digits, not all zero" in result["errors"][0]
    assert "no start or end time" in result["errors"][1]


async def test_native_ingest_validation_and_auth(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await client.post(f"{tenant.ws}/traces", json={"spans": []}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["errors"]
    response = await client.post(
        f"{tenant.ws}/traces", json={"spans": [{"name": "x"}]}, headers=tenant.headers
    )
    assert response.status_code == 422
    # An OTLP/JSON request sent here instead of /otel/v1/traces is called what it is.
    otlp = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": trace_id(), "spanId": span_id()}]}]}]}
    response = await client.post(f"{tenant.ws}/traces", json=otlp, headers=tenant.headers)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body"]
    assert "OTLP/JSON request (resourceSpans): POST it to /otel/v1/traces" in error["msg"]
    body = {"spans": [native_span(trace_id())]}
    assert (await client.post(f"{tenant.ws}/traces", json=body)).status_code == 401
    response = await client.post(f"{other_tenant.ws}/traces", json=body, headers=tenant.headers)
    assert response.status_code == 404
    viewer = await tenant.member("viewer")
    assert (await client.post(f"{tenant.ws}/traces", json=body, headers=viewer)).status_code == 403
    key = await tenant.api_key([Scope.WRITE_TRACES])
    response = await client.post(f"{tenant.ws}/traces", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


async def test_filters(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    early, late, failed, other_model = trace_id(), trace_id(), trace_id(), trace_id()
    await ingest(
        client,
        tenant,
        [
            llm(early, "Where is my parcel?", "In transit.", at=BASE),
            llm(late, "Cancel my order", "Done, cancelled.", at=BASE + timedelta(hours=2)),
            llm(
                failed,
                "Refund please",
                "",
                at=BASE + timedelta(hours=3),
                status="error",
                status_message="boom",
            ),
            llm(
                other_model,
                "Hello",
                "Hi there",
                model="claude-3-5-sonnet-20241022",
                at=BASE + timedelta(hours=4),
            ),
        ],
    )
    assert await list_ids(client, tenant) == [other_model, failed, late, early]
    assert await list_ids(client, tenant, status="error") == [failed]
    assert await list_ids(client, tenant, status="ok") == [other_model, late, early]
    assert await list_ids(client, tenant, model="claude-3-5-sonnet-20241022") == [other_model]
    window = {
        "start": (BASE + timedelta(hours=1)).isoformat(),
        "end": (BASE + timedelta(hours=3)).isoformat(),
    }
    assert await list_ids(client, tenant, **window) == [late]
    assert await list_ids(client, tenant, q="parcel") == [early]
    assert await list_ids(client, tenant, q="CANCELLED") == [late]
    assert await list_ids(client, tenant, q="100%") == []

    await client.post(
        f"{tenant.ws}/traces/{late}/feedback",
        json={"kind": "thumbs", "value": "down"},
        headers=tenant.headers,
    )
    assert await list_ids(client, tenant, has_feedback="true") == [late]
    assert await list_ids(client, tenant, has_feedback="false") == [other_model, failed, early]

    async with db.session() as session:
        await record_trace_scores(
            session,
            tenant.workspace_id,
            [TraceScore(early, 0.9, {"accuracy": 1.0}), TraceScore(late, 0.4, {"accuracy": 0.0})],
            utcnow(),
        )
    assert await list_ids(client, tenant, min_score=0.5) == [early]
    assert await list_ids(client, tenant, max_score=0.5) == [late]
    detail = (await client.get(f"{tenant.ws}/traces/{early}", headers=tenant.headers)).json()
    assert (detail["score"], detail["scores"]) == (0.9, {"accuracy": 1.0})

    page = (
        await client.get(f"{tenant.ws}/traces", params={"limit": 2, "offset": 1}, headers=tenant.headers)
    ).json()
    assert [item["trace_id"] for item in page["results"]] == [failed, late]
    assert page["pagination"] == {"total": 4, "limit": 2, "offset": 1}
    response = await client.get(f"{tenant.ws}/traces", params={"min_score": 2}, headers=tenant.headers)
    assert response.status_code == 422


async def test_agent_resolution_and_traces_sent_before_the_agent_existed(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    before, after, unrelated = trace_id(), trace_id(), trace_id()
    await ingest(client, tenant, [llm(before, "q1", "a1")], **{"service.name": "fact-checker"})
    response = await client.post(
        f"{tenant.ws}/agents", json={"name": "Fact checker", "slug": "fact-checker"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    agent_id = response.json()["id"]
    await ingest(
        client,
        tenant,
        [llm(after, "q2", "a2", at=BASE + timedelta(minutes=1), attributes={"spectral.agent.version": "3"})],
        **{"service.name": "fact-checker"},
    )
    await ingest(client, tenant, [llm(unrelated, "q3", "a3")], **{"spectral.agent.name": "other-bot"})

    early = (await client.get(f"{tenant.ws}/traces/{before}", headers=tenant.headers)).json()
    assert (early["agent_key"], early["agent_id"]) == ("fact-checker", None)
    late = (await client.get(f"{tenant.ws}/traces/{after}", headers=tenant.headers)).json()
    assert (late["agent_key"], late["agent_id"], late["agent_version"]) == ("fact-checker", agent_id, "3")
    assert await list_ids(client, tenant, agent=agent_id) == [after, before]
    assert await list_ids(client, tenant, agent="fact-checker") == [after, before]
    assert await list_ids(client, tenant, agent="other-bot") == [unrelated]


async def test_spectral_agent_attribute_beats_service_name(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trace, root = trace_id(), span_id()
    await ingest(
        client,
        tenant,
        [
            native_span(trace, span=root, name="run", ms=500),
            llm(trace, "q", "a", parent=root, attributes={"gen_ai.agent.name": "triage"}),
        ],
    )
    detail = (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).json()
    assert detail["agent_key"] == "triage"
    assert detail["service_name"] == "helpdesk"


async def test_feedback(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trace = trace_id()
    await ingest(client, tenant, [llm(trace, "q", "a")])
    url = f"{tenant.ws}/traces/{trace}/feedback"
    response = await client.post(
        url, json={"kind": "thumbs", "value": "up", "comment": "great"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"].endswith(f"/traces/{trace}/feedback")
    first = response.json()
    assert (first["score"], first["comment"], first["user_id"]) == (1.0, "great", str(tenant.user_id))

    key = await tenant.api_key([Scope.WRITE_TRACES])
    by_key = await client.post(
        url, json={"kind": "score", "value": 0.25}, headers={"Authorization": f"Bearer {key}"}
    )
    assert by_key.status_code == 201, by_key.text
    assert (by_key.json()["user_id"], by_key.json()["score"]) == (None, 0.25)
    assert by_key.json()["api_key_id"] is not None
    label = await client.post(url, json={"kind": "label", "value": "hallucination"}, headers=tenant.headers)
    assert (label.json()["label"], label.json()["score"]) == ("hallucination", None)
    comment = await client.post(url, json={"kind": "comment", "comment": "too long"}, headers=tenant.headers)
    assert comment.json()["comment"] == "too long"

    listing = (await client.get(url, headers=tenant.headers)).json()
    assert [item["kind"] for item in listing["results"]] == ["thumbs", "score", "label", "comment"]
    assert listing["pagination"]["total"] == 4
    detail = (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).json()
    assert detail["feedback_summary"] == {"count": 4, "mean_score": pytest.approx(0.625)}


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "thumbs", "value": "sideways"},
        {"kind": "score", "value": 1.5},
        {"kind": "score", "value": True},
        {"kind": "label", "value": ""},
        {"kind": "comment"},
        {"kind": "stars", "value": 5},
    ],
)
async def test_invalid_feedback_is_422(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]
) -> None:
    trace = trace_id()
    await ingest(client, tenant, [llm(trace, "q", "a")])
    response = await client.post(f"{tenant.ws}/traces/{trace}/feedback", json=body, headers=tenant.headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_missing_and_foreign_traces_are_404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    trace = trace_id()
    await ingest(client, other_tenant, [llm(trace, "q", "a")])
    for path in (f"/traces/{trace}", f"/traces/{trace}/feedback", "/traces/not-a-trace-id"):
        response = await client.get(tenant.ws + path, headers=tenant.headers)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
    response = await client.post(
        f"{tenant.ws}/traces/{trace}/feedback", json={"kind": "thumbs", "value": True}, headers=tenant.headers
    )
    assert response.status_code == 404
    assert (await client.get(f"{other_tenant.ws}/traces", headers=tenant.headers)).status_code == 404


async def test_engine_traces_and_llm_prompts(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    response = await client.post(
        f"{tenant.ws}/agents", json={"name": "Helper", "slug": "helpdesk"}, headers=tenant.headers
    )
    agent_id = response.json()["id"]
    trace, root = trace_id(), span_id()
    await ingest(
        client,
        tenant,
        [
            native_span(trace, span=root, name="agent run", ms=900, attributes={"session.id": "s-1"}),
            llm(trace, "Where is order 42?", "Shipped.", parent=root, at=BASE + timedelta(milliseconds=10)),
            native_span(
                trace,
                parent=root,
                name="lookup_order",
                at=BASE + timedelta(milliseconds=300),
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "lookup_order",
                    "gen_ai.tool.call.arguments": '{"order_id": 42}',
                },
                status="error",
                status_message="db timeout",
            ),
        ],
    )
    await client.post(
        f"{tenant.ws}/traces/{trace}/feedback",
        json={"kind": "thumbs", "value": False},
        headers=tenant.headers,
    )
    async with db.session() as session:
        [loaded] = await queries.load_engine_traces(
            session,
            tenant.workspace_id,
            agent_id=uuid.UUID(agent_id),
            start=BASE - timedelta(days=1),
        )
        assert (
            await queries.load_engine_traces(session, tenant.workspace_id, start=BASE + timedelta(days=1))
            == []
        )
        prompts = await queries.llm_prompts(session, tenant.workspace_id, agent_slug="helpdesk")
    assert loaded.trace_id == trace
    assert loaded.input == (
        Message("system", "You answer questions."),
        Message("user", "Where is order 42?"),
    )
    assert loaded.input_text == "Where is order 42?"
    assert loaded.output == "Shipped."
    assert (loaded.model, loaded.session_id, loaded.finish_reason) == ("gpt-4o-mini", "s-1", "stop")
    assert loaded.status is TraceStatus.OK
    assert loaded.latency_ms == pytest.approx(900, abs=1)
    assert (loaded.input_tokens, loaded.output_tokens) == (100, 20)
    assert loaded.cost_usd == pytest.approx((100 * 0.15 + 20 * 0.6) / 1e6)
    assert [(call.name, dict(call.arguments), call.error) for call in loaded.tool_calls] == [
        ("lookup_order", {"order_id": 42}, "db timeout")
    ]
    assert loaded.feedback == (0.0,)
    assert [s.name for s in loaded.spans] == ["agent run", "llm call", "lookup_order"]
    # The agent existed when the spans arrived, so its id was resolved at ingest.
    assert loaded.agent_id == agent_id
    [prompt] = prompts
    assert prompt.trace_id == trace
    assert prompt.messages[-1] == {"role": "user", "content": "Where is order 42?"}
