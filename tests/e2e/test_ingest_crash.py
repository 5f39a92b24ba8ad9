"""No acknowledged span is lost: `spectral-otel-ingest` is SIGKILLed while clients are sending, and
every span of every request it answered 200 is in PostgreSQL, with its trace."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from e2e.conftest import Stack
from processes import Process, free_port, wait_http
from spectral_cli.demo.seeding import DEMO_PASSWORD, bearer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

SPANS_PER_REQUEST = 200
CLIENTS = 4


def otlp_request(now_ns: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One OTLP/JSON request of new 5-span traces, and its (trace id, span id) pairs."""
    spans, keys = [], []
    for index in range(SPANS_PER_REQUEST):
        if index % 5 == 0:
            trace, root = secrets.token_hex(16), secrets.token_hex(8)
        span = root if index % 5 == 0 else secrets.token_hex(8)
        spans.append(
            {
                "traceId": trace,
                "spanId": span,
                **({} if span == root else {"parentSpanId": root}),
                "name": "step",
                "kind": 1,
                "startTimeUnixNano": str(now_ns + index * 1000),
                "endTimeUnixNano": str(now_ns + index * 1000 + 500_000),
                "attributes": [{"key": "input.value", "value": {"stringValue": "hello"}}],
            }
        )
        keys.append((trace, span))
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "crash"}}]},
                "scopeSpans": [{"scope": {"name": "e2e"}, "spans": spans}],
            }
        ]
    }
    return body, keys


def test_spans_acknowledged_before_a_sigkill_are_all_stored(stack: Stack) -> None:
    with httpx.Client(base_url=stack.api_url, timeout=30) as api:
        registered = api.post(
            "/api/v1/auth/register",
            json={"email": "crash@example.com", "password": DEMO_PASSWORD, "tenant_name": "Crash"},
        )
        assert registered.status_code == 201, registered.text
        workspace_id = registered.json()["workspace_id"]
        key = api.post(
            f"/api/v1/workspaces/{workspace_id}/keys",
            json={"name": "crash", "scopes": ["write:traces"]},
            headers=bearer(registered.json()["access_token"]),
        ).json()["key"]

    port = free_port()
    ingest = Process(
        "ingest-crash", ["-m", "spectral_otel_ingest", "--port", str(port)], stack.env, stack.log_dir
    )
    acknowledged: list[tuple[str, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health", ingest)

        def client() -> None:
            with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {key}"}) as http:
                while not stop.is_set():
                    body, keys = otlp_request(time.time_ns())
                    try:
                        response = http.post(f"http://127.0.0.1:{port}/otel/v1/traces", json=body)
                    except httpx.HTTPError:
                        return  # the process is gone: this request was never acknowledged
                    if response.status_code == 200:
                        with lock:
                            acknowledged.extend(keys)

        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(client) for _ in range(CLIENTS)]
            # Kill while requests are in flight, once a good number has been answered.
            while len(acknowledged) < 20 * SPANS_PER_REQUEST:
                assert ingest.popen.poll() is None, ingest.log()
                time.sleep(0.05)
            ingest.kill()
            stop.set()
            for future in futures:
                future.result()
    finally:
        stop.set()
        ingest.stop()

    dsn = stack.env["SPECTRAL_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        stored = set(
            conn.execute(
                "SELECT trace_id, span_id FROM spans WHERE workspace_id = %s", (workspace_id,)
            ).fetchall()
        )
        traces = {
            row[0]
            for row in conn.execute("SELECT trace_id FROM traces WHERE workspace_id = %s", (workspace_id,))
        }
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged spans lost"
    assert {trace for trace, _ in acknowledged} <= traces
