"""The HTTP client: the only way the CLI reaches Spectral. It backs off on 429 and 503,
honouring `Retry-After`, and turns every non-2xx into an `ApiError`."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from spectral_cli.errors import ApiError, CliError, ExitCode

RETRY_STATUSES = frozenset({429, 503})
# Signing in is where a 401 means a wrong email or password, not a login to renew.
SIGN_IN_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/auth/register"})
MAX_ATTEMPTS = 6
MAX_WAIT_S = 60.0


def retry_after_seconds(response: httpx.Response, fallback_s: float) -> float:
    """The server's `Retry-After` (seconds or an HTTP date), capped; `fallback_s` without one."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return min(MAX_WAIT_S, max(0.0, float(header)))
        except ValueError:
            try:
                return min(MAX_WAIT_S, max(0.0, parsedate_to_datetime(header).timestamp() - time.time()))
            except (TypeError, ValueError):
                pass
    return min(MAX_WAIT_S, fallback_s)


class Client:
    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"User-Agent": "spectral-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.server = server.rstrip("/")
        # An API key (--token sk_…) is renewed by creating another, not by logging in.
        self._uses_api_key = bool(token and token.startswith("sk_"))
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout_s)
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = self._http.request(
                    method, path, json=json, content=content, params=params, headers=headers
                )
            except httpx.HTTPError as exc:
                raise CliError(
                    f"cannot reach {self.server}: {exc.__class__.__name__}: {exc} — is the server running "
                    "(`make run`)? Point --server or SPECTRAL_SERVER at it",
                    ExitCode.SERVER,
                ) from exc
            if response.status_code in RETRY_STATUSES and attempt < MAX_ATTEMPTS - 1:
                self._sleep(retry_after_seconds(response, 0.5 * 2**attempt))
                continue
            break
        if response.is_success or response.status_code == 304:
            return response
        is_problem = response.headers.get("content-type", "").startswith("application/problem+json")
        try:
            problem = response.json()
            if not isinstance(problem, dict):
                problem = {"detail": str(problem)}
        except ValueError:
            problem = {"detail": response.text[:200] or response.reason_phrase}
        hint = None
        if response.status_code == 404 and (
            not is_problem or str(problem.get("detail", "")).startswith("No route matches")
        ):
            # Not a missing resource: a route this server does not have (the ingest service, or
            # something that is not Spectral at all).
            hint = f"is {self.server} Spectral's API server? Point --server or SPECTRAL_SERVER at it"
        elif response.status_code == 401 and path not in SIGN_IN_PATHS and not self._uses_api_key:
            hint = "run `spectral login` again"
        raise ApiError(response.status_code, method, path, problem, hint=hint)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw).json()

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        response = self.request("POST", path, json=body, **kw)
        return response.json() if response.content else None

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, json=body, **kw).json()

    def delete(self, path: str, **kw: Any) -> None:
        self.request("DELETE", path, **kw)
