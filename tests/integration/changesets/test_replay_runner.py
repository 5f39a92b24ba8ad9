"""The replay runner against a real HTTP endpoint on loopback: the contract's happy path, and every
way an endpoint can misbehave turning into an error result (never an exception, never a hang)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from servers import serve_in_thread
from spectral.engine.types import AgentConfig, ReplayInput, ReplayResult, TraceStatus
from spectral.platform.changesets.replay import MAX_RESPONSE_BYTES, HttpReplayRunner

CONFIG = AgentConfig(model="gpt-4o", params={"max_tokens": 64}, templates={"system": "Be brief."})
RECEIVED: list[dict[str, object]] = []


async def ok(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    RECEIVED.append(body)
    return JSONResponse(
        {
            "output": f"echo: {body['input']}",
            "finish_reason": "stop",
            "usage": {"input_tokens": 12, "output_tokens": 3},
            "cost_usd": 0.0001,
            "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "ORD-1"}, "error": None}],
        }
    )


async def boom(_: Request) -> Response:
    return Response("upstream exploded", status_code=500)


async def not_json(_: Request) -> Response:
    return Response("<html>hello</html>", media_type="text/html")


async def no_output(_: Request) -> JSONResponse:
    return JSONResponse({"finish_reason": "stop"})


async def huge(_: Request) -> Response:
    return Response(b'{"output": "' + b"x" * (MAX_RESPONSE_BYTES + 10) + b'"}', media_type="application/json")


async def slow(_: Request) -> JSONResponse:
    await asyncio.sleep(2)
    return JSONResponse({"output": "late"})


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route(f"/{name}", handler, methods=["POST"])
            for name, handler in {
                "ok": ok,
                "boom": boom,
                "not-json": not_json,
                "no-output": no_output,
                "huge": huge,
                "slow": slow,
            }.items()
        ]
    )
    with serve_in_thread(app) as url:
        yield url


async def _run(url: str, *, timeout_s: float = 30.0) -> list[ReplayResult]:
    runner = HttpReplayRunner(url, allow_private=True, timeout_s=timeout_s)
    try:
        return await runner.run(
            CONFIG, [ReplayInput(input="where is my order?", trace_id="t1", sample_id=None)]
        )
    finally:
        await runner.aclose()


async def test_the_contract_round_trip(endpoint: str) -> None:
    RECEIVED.clear()
    [result] = await _run(f"{endpoint}/ok")
    assert [
        {"input": "where is my order?", "config": CONFIG.to_dict(), "trace_id": "t1", "sample_id": None}
    ] == RECEIVED
    assert result.status is TraceStatus.OK
    assert result.output == "echo: where is my order?"
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (12, 3, 0.0001)
    assert result.tool_calls[0].name == "lookup_order"
    assert result.latency_ms is not None


@pytest.mark.parametrize(
    ("path", "error_type"),
    [
        ("boom", "replay_http_error"),
        ("not-json", "replay_invalid_response"),
        ("no-output", "replay_invalid_response"),
        ("huge", "replay_invalid_response"),
    ],
)
async def test_a_misbehaving_endpoint_gives_an_error_result(
    endpoint: str, path: str, error_type: str
) -> None:
    [result] = await _run(f"{endpoint}/{path}")
    assert result.status is TraceStatus.ERROR
    assert result.error_type == error_type
    assert result.error_message


async def test_a_slow_endpoint_times_out(endpoint: str) -> None:
    [result] = await _run(f"{endpoint}/slow", timeout_s=0.3)
    assert result.error_type == "replay_timeout"


async def test_an_unreachable_endpoint_is_an_error_result() -> None:
    [result] = await _run("http://127.0.0.1:9/replay")
    assert result.error_type == "replay_unreachable"


async def test_private_targets_are_refused_unless_allowed(endpoint: str) -> None:
    runner = HttpReplayRunner(f"{endpoint}/ok", allow_private=False)
    try:
        [result] = await runner.run(CONFIG, [ReplayInput(input="hi", trace_id="t2")])
    finally:
        await runner.aclose()
    assert result.error_type == "unsafe_replay_url"
    assert "loopback" in (result.error_message or "") or "private" in (result.error_message or "")
