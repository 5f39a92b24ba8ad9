"""Real HTTP servers on 127.0.0.1 that speak the OpenAI chat-completions and Anthropic messages
formats, scripted by the tests: each request takes the next scripted reply (a status, headers, a
delay) or, when the script is empty, a successful completion. Every request is recorded."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Kind = Literal["openai", "anthropic"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    # None: a successful completion in the server's format.
    body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class ScriptedLLMServer:
    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.answer = "a fine answer"
        self.finish = "stop" if kind == "openai" else "end_turn"
        self.input_tokens = 1000
        self.output_tokens = 200
        self.requests: list[Recorded] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name=f"llm-{kind}", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """What `SPECTRAL_LLM_BASE_URL` is set to for this server."""
        return f"{self.url}/v1" if self.kind == "openai" else self.url

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def fail(self, status: int, times: int = 1, **headers: str) -> None:
        self.script(
            *[Reply(status=status, headers=headers, body={"error": {"message": f"scripted {status}"}})]
            * times
        )

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def _next(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def _success(self) -> dict[str, Any]:
        if self.kind == "openai":
            return {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.answer},
                        "finish_reason": self.finish,
                    }
                ],
                "usage": {"prompt_tokens": self.input_tokens, "completion_tokens": self.output_tokens},
            }
        return {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": self.answer}],
            "stop_reason": self.finish,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(
                        Recorded(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
                        )
                    )
                reply = server._next()
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = json.dumps(server._success() if reply.body is None else reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name.replace("_", "-"), value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (its timeout) before the slow reply: that is the scenario.
                    pass

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@contextmanager
def running(kind: Kind) -> Iterator[ScriptedLLMServer]:
    server = ScriptedLLMServer(kind)
    server.start()
    try:
        yield server
    finally:
        server.stop()
