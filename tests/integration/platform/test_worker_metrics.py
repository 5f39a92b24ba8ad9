"""The worker's own `/metrics` listener over a real socket: the API's endpoint and SPECTRAL_METRICS
rules, none when metrics are off or its port is 0, and a clear refusal when its port is taken
(unless worker processes share one in multi-process mode)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from processes import free_port
from scrape import exposition, present
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Settings
from spectral_worker.worker import metrics_listener

TOKEN = "worker-metrics-" + "k" * 20


async def test_the_worker_serves_its_series(settings: Settings, db: Database, queue: InProcessQueue) -> None:
    port = free_port()
    changed = settings.model_copy(update={"worker_metrics_port": port})
    async with metrics_listener(changed, db, queue), httpx.AsyncClient() as http:
        text = exposition(await http.get(f"http://127.0.0.1:{port}/metrics"))
        assert present(text, "spectral_queue_depth")
        assert "# TYPE spectral_scans_finished_total counter" in text
        missing = await http.get(f"http://127.0.0.1:{port}/api/v1/health")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/metrics")


async def test_the_token_rule_holds_on_the_worker(
    settings: Settings, db: Database, queue: InProcessQueue
) -> None:
    port = free_port()
    changed = settings.model_copy(
        update={"worker_metrics_port": port, "metrics": "token", "metrics_token": SecretStr(TOKEN)}
    )
    url = f"http://127.0.0.1:{port}/metrics"
    async with metrics_listener(changed, db, queue), httpx.AsyncClient() as http:
        refused = await http.get(url)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        exposition(await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}))


@pytest.mark.parametrize("update", [{"metrics": "off"}, {"worker_metrics_port": 0}])
async def test_no_listener_when_metrics_are_off_or_port_0(
    settings: Settings, db: Database, queue: InProcessQueue, update: dict[str, object]
) -> None:
    port = free_port()
    changed = settings.model_copy(update={"worker_metrics_port": port, **update})
    async with metrics_listener(changed, db, queue), httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/metrics")


async def test_a_taken_port_is_refused_unless_processes_share_it(
    settings: Settings,
    db: Database,
    queue: InProcessQueue,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        changed = settings.model_copy(update={"worker_metrics_port": taken.getsockname()[1]})
        monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
        with pytest.raises(SystemExit, match="SPECTRAL_WORKER_METRICS_PORT"):
            async with metrics_listener(changed, db, queue):
                pass
        # Sharing one port: another worker process of this host serves the series of all.
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        async with metrics_listener(changed, db, queue):
            pass
