"""The console's only way to the platform: the API app, called in-process as the signed-in user.

Authorization, validation, rate limits and the unit of work are exactly those of `/api/v1`,
because the request *is* an `/api/v1` request; the console adds no privileged path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request

# Hop-by-hop context forwarded so that rate limits and logs see the browser, not the console.
_FORWARDED = ("x-forwarded-for", "x-request-id", "user-agent")


@dataclass(slots=True)
class ApiProblem(Exception):
    """An `/api/v1` answer that was not a success, as the console shows it."""

    status: int
    detail: str
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Api:
    request: Request
    token: str | None

    def _client(self) -> httpx.AsyncClient:
        peer = self.request.client
        transport = httpx.ASGITransport(
            app=self.request.app,
            client=(peer.host, peer.port) if peer else ("127.0.0.1", 0),
        )
        headers = {k: v for k in _FORWARDED if (v := self.request.headers.get(k))}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return httpx.AsyncClient(transport=transport, base_url="http://console.internal", headers=headers)

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        if any(part in (".", "..") for part in path.split("/")):
            # A dot segment would be resolved away and reach another endpoint than the page meant.
            raise ApiProblem(404, "No such resource")
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        headers = {"Accept": accept} if accept else None
        async with self._client() as client:
            return await client.request(method, path, json=json, params=clean, headers=headers)

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded body of a 2xx answer; anything else raises `ApiProblem`."""
        response = await self.send(method, path, **kwargs)
        if response.status_code >= 400:
            raise problem_of(response)
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.call("POST", path, json=body if body is not None else {})


def segment(value: str) -> str:
    """A user-given value (a form field) as one path segment of an API call."""
    return quote(value, safe="")


def problem_of(response: httpx.Response) -> ApiProblem:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
    errors = [
        f"{'.'.join(str(p) for p in e.get('loc', []) if p != 'body')}: {e.get('msg', '')}".lstrip(": ")
        for e in body.get("errors") or []
    ]
    return ApiProblem(response.status_code, detail, errors)
