"""`/metrics` in the Prometheus text format, read with Prometheus's own parser: request series by
route template move with requests, job series with jobs; and who may read it (SPECTRAL_METRICS)."""

from __future__ import annotations

import math

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI
from pydantic import SecretStr

from scrape import exposition, present, scrape, value
from spectral.platform.shared.db import Database
from spectral.platform.shared.logging import logged_job
from spectral.platform.shared.queue import ArqQueue, InProcessQueue
from spectral.platform.shared.settings import Settings, SettingsError
from spectral_api.app import create_app
from spectral_api.state import AppState

TOKEN = "metrics-" + "t" * 24


async def test_request_series_by_route_template_move(client: httpx.AsyncClient, tenant) -> None:
    route = {"route": "/api/v1/workspaces/{workspace_id}/agents", "method": "GET", "status": "200"}
    before = value(await scrape(client), "spectral_http_requests_total", **route)
    for _ in range(3):
        assert (
            await client.get(f"/api/v1/workspaces/{tenant.workspace_id}/agents", headers=tenant.headers)
        ).status_code == 200
    assert (await client.get("/no/such/path/42")).status_code == 404
    after = await scrape(client)
    assert value(after, "spectral_http_requests_total", **route) == before + 3
    assert value(after, "spectral_http_requests_total", route="<unmatched>", status="404") >= 1
    assert not [line for line in after.splitlines() if "/no/such/path/42" in line]
    assert value(after, "spectral_http_request_duration_seconds_count", route=route["route"]) >= 3
    assert "spectral_queue_depth" in after


async def test_job_series_move(client: httpx.AsyncClient) -> None:
    async def work(ctx: dict[str, object], *, scan_id: str) -> str:
        return "done"

    async def broken(ctx: dict[str, object], *, scan_id: str) -> None:
        raise RuntimeError("boom")

    before = await scrape(client)
    await logged_job("metrics_test_job", work)({"job_id": "a"}, scan_id="s")
    with pytest.raises(RuntimeError):
        await logged_job("metrics_test_job", broken)({"job_id": "b"}, scan_id="s")
    after = await scrape(client)
    for outcome in ("ok", "RuntimeError"):
        labels = {"job": "metrics_test_job", "outcome": outcome}
        assert (
            value(after, "spectral_jobs_total", **labels)
            == value(before, "spectral_jobs_total", **labels) + 1
        )
    count = {"job": "metrics_test_job"}
    assert (
        value(after, "spectral_job_duration_seconds_count", **count)
        == value(before, "spectral_job_duration_seconds_count", **count) + 2
    )


@pytest.fixture
def app_with(settings: Settings, db: Database, queue: InProcessQueue):
    def build(**update: object) -> FastAPI:
        changed = settings.model_copy(update=update)
        return create_app(changed, state=AppState(settings=changed, db=db, queue=queue))

    return build


async def get(app: FastAPI, client_host: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/metrics", headers=headers)


async def test_who_may_read(app_with) -> None:
    loopback = app_with(metrics="loopback")
    assert (await get(loopback, "127.0.0.1")).status_code == 200
    refused = await get(loopback, "10.1.2.3")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"

    off = app_with(metrics="off")
    assert (await get(off, "127.0.0.1")).status_code == 404

    token = app_with(metrics="token", metrics_token=SecretStr(TOKEN))
    assert (await get(token, "10.1.2.3")).status_code == 401
    assert (await get(token, "10.1.2.3", {"Authorization": "Bearer wrong"})).status_code == 401
    assert (await get(token, "10.1.2.3", {"Authorization": f"Bearer {TOKEN}"})).status_code == 200


def test_token_mode_needs_a_token() -> None:
    with pytest.raises(SettingsError, match="SPECTRAL_METRICS_TOKEN"):
        Settings(metrics="token")


async def test_ingest_series_move(client: httpx.AsyncClient, tenant) -> None:
    span = {
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "name": "chat",
        "start_time": "2026-11-28T12:00:00Z",
        "end_time": "2026-11-28T12:00:01Z",
    }
    backwards = span | {"span_id": "b7ad6b7169203332", "end_time": "2026-11-28T11:00:00Z"}
    before = await scrape(client)
    response = await client.post(
        f"/api/v1/workspaces/{tenant.workspace_id}/traces",
        json={"spans": [span, backwards]},
        headers=tenant.headers,
    )
    assert (response.json()["accepted"], response.json()["rejected"]) == (1, 1)
    after = await scrape(client)
    for outcome in ("accepted", "rejected"):
        moved = value(after, "spectral_spans_total", outcome=outcome)
        assert moved == value(before, "spectral_spans_total", outcome=outcome) + 1
    waited = "spectral_ingest_write_wait_seconds_count"
    assert value(after, waited) == value(before, waited) + 1


async def test_a_scrape_survives_a_database_and_a_redis_that_are_down(settings: Settings) -> None:
    """The queue depth reads NaN and the circuit series are left out; every other series is served."""
    db = Database("postgresql+psycopg://spectral@127.0.0.1:1/nowhere")
    queue = ArqQueue(ArqRedis.from_url("redis://127.0.0.1:1"), queue_names=settings.queue_names)
    app = create_app(settings, state=AppState(settings=settings, db=db, queue=queue))
    try:
        text = exposition(await get(app, "127.0.0.1"))
        assert math.isnan(value(text, "spectral_queue_depth"))
        assert not present(text, "spectral_model_circuit_state")
        assert "# TYPE spectral_http_requests_total counter" in text
    finally:
        await queue.close()
        await db.dispose()
