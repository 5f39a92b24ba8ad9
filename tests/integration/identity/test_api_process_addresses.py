"""The API as an operator runs it (`python -m spectral_api`, embedded default): the client address
rule holds in the real server, not only in the app, and the data it creates is private.

uvicorn on its own believes X-Forwarded-For from loopback peers; the server turns that off so
SPECTRAL_TRUSTED_PROXIES is the only rule."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from processes import Process, free_port, wait_http

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRAL_")}
    env.update(
        SPECTRAL_DATA_DIR=str(tmp_path / "data"),
        SPECTRAL_LOG_LEVEL="WARNING",
        SPECTRAL_RATE_LIMIT_LOGIN_PER_MINUTE="3",
        # The cheapest hashing production allows: this test is about addresses, not argon2.
        SPECTRAL_ARGON2_TIME_COST="2",
        SPECTRAL_ARGON2_MEMORY_KIB="19456",
        SPECTRAL_ARGON2_PARALLELISM="1",
        # A proxy is configured, but not on loopback, where the test's requests come from.
        SPECTRAL_TRUSTED_PROXIES="10.0.0.0/8",
    )
    port = free_port()
    process = Process("api", ["-m", "spectral_api", "--port", str(port)], env, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health", process, timeout_s=60)
        yield f"http://127.0.0.1:{port}", tmp_path / "data"
    finally:
        process.stop()


def _login(http: httpx.Client, email: str, password: str, forwarded_for: str) -> int:
    response = http.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


def test_the_server_ignores_forwarded_for_from_an_untrusted_peer(api: tuple[str, Path]) -> None:
    url, data_dir = api
    with httpx.Client(base_url=url, timeout=60) as http:
        registered = http.post(
            "/api/v1/auth/register",
            json={"email": "ada@example.com", "password": PASSWORD, "tenant_name": "A"},
        )
        assert registered.status_code == 201, registered.text
        # Each guess claims another address; loopback is no trusted proxy, so all are one source
        # (behind a trusted proxy each would count apart: see test_login_throttle.py).
        guesses = [_login(http, "ada@example.com", f"guess {i}", f"192.0.2.{i}") for i in range(4)]
        assert guesses == [401] * 3 + [429]
        assert _login(http, "ada@example.com", PASSWORD, "198.51.100.20") == 429
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("spectral.db", "jwt_secret"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600
