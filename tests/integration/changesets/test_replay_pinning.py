"""The replay client connects to the address the SSRF guard checked, never resolving the host again
(DNS rebinding), with the Host header and TLS name verification kept on the original host name.

Two real servers listen on the same port of two loopback addresses: A on 127.0.0.1 and B on
127.0.0.2. The guard's resolver is injected, so the test decides what "DNS" answers at check time;
the operating system's resolver is made to answer B for the same name, as a rebinding DNS would if
the client asked again."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from processes import free_port
from servers import serve_in_thread
from spectral.engine.types import AgentConfig, ReplayInput, ReplayResult, TraceStatus
from spectral.platform.agents.replay_url import IpAddress, check_replay_url
from spectral.platform.changesets.replay import HttpReplayRunner

HOST = "replay.test"
CONFIG = AgentConfig(model="gpt-4o", params={}, templates={})


class Recorder:
    """A replay endpoint that records which local address each request reached, and its Host."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[tuple[str, str]] = []

    async def replay(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        server = request.scope["server"]
        self.seen.append((server[0], request.headers["host"]))
        return JSONResponse({"output": f"{self.name}: {body['input']}"})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/replay", self.replay, methods=["POST"])])


@pytest.fixture
def servers() -> Iterator[tuple[int, Recorder, Recorder]]:
    port = free_port()
    a, b = Recorder("A"), Recorder("B")
    with serve_in_thread(a.app(), port=port), serve_in_thread(b.app(), host="127.0.0.2", port=port):
        yield port, a, b


@pytest.fixture
def rebinding_os_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the system resolver answers for HOST: B. A client that resolved again would go there."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (HOST, HOST.encode()):
            return real("127.0.0.2", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


class ScriptedDns:
    """Answers from a script, one per question; the last answer repeats."""

    def __init__(self, *answers: str) -> None:
        self.answers = [ipaddress.ip_address(a) for a in answers]
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IpAddress]:
        self.asked.append(host)
        return [self.answers[min(len(self.asked), len(self.answers)) - 1]]


async def _replay(runner: HttpReplayRunner, text: str = "hi") -> ReplayResult:
    try:
        [result] = await runner.run(CONFIG, [ReplayInput(input=text, trace_id="t1")])
    finally:
        await runner.aclose()
    return result


@pytest.mark.usefixtures("rebinding_os_resolver")
async def test_the_connection_goes_to_the_checked_address(servers: tuple[int, Recorder, Recorder]) -> None:
    port, a, b = servers
    dns = ScriptedDns("127.0.0.1", "127.0.0.2")
    runner = HttpReplayRunner(f"http://{HOST}:{port}/replay", allow_private=True, resolver=dns)
    result = await _replay(runner)
    assert (result.status, result.output) == (TraceStatus.OK, "A: hi")
    assert a.seen == [("127.0.0.1", f"{HOST}:{port}")]
    assert b.seen == []
    assert dns.asked == [HOST]


@pytest.mark.usefixtures("rebinding_os_resolver")
async def test_rebinding_to_an_internal_address_after_the_check_is_refused(
    servers: tuple[int, Recorder, Recorder],
) -> None:
    port, a, b = servers
    url = f"http://{HOST}:{port}/replay"
    # When the agent was saved the name pointed at a public address; now it points at loopback.
    dns = ScriptedDns("93.184.215.14", "127.0.0.1")
    assert [str(x) for x in await check_replay_url(url, allow_private=False, resolver=dns)] == [
        "93.184.215.14"
    ]
    result = await _replay(HttpReplayRunner(url, allow_private=False, resolver=dns))
    assert result.error_type == "unsafe_replay_url"
    assert "127.0.0.1" in (result.error_message or "")
    assert (a.seen, b.seen) == ([], [])
    assert dns.asked == [HOST, HOST]


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize(("certified_name", "verified"), [(HOST, True), ("someone-else.test", False)])
async def test_tls_names_and_verifies_the_original_host_not_the_ip(
    tmp_path: Path, certified_name: str, verified: bool
) -> None:
    cert, key = _certificate(tmp_path, certified_name)
    recorder = Recorder("TLS")
    port = free_port()
    with serve_in_thread(recorder.app(), port=port, ssl_certfile=str(cert), ssl_keyfile=str(key)):
        trusting = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=str(cert)))
        runner = HttpReplayRunner(
            f"https://{HOST}:{port}/replay",
            allow_private=True,
            resolver=ScriptedDns("127.0.0.1"),
            transport=trusting,
        )
        result = await _replay(runner)
    if verified:
        # The certificate names only replay.test (no IP): it verified, so TLS used the host name.
        assert (result.status, result.output) == (TraceStatus.OK, "TLS: hi")
        assert recorder.seen == [("127.0.0.1", f"{HOST}:{port}")]
    else:
        assert result.error_type == "replay_unreachable"
        assert "CERTIFICATE_VERIFY_FAILED" in (result.error_message or "")
        assert recorder.seen == []
