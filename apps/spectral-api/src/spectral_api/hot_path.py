"""The agents' runtime config read (`GET {ws}/agents/{id}/config`), served without the router's
walk over every route and FastAPI's per-request dependency solving: the one request every running
agent makes, over and over.

It is not a second implementation. It calls the functions the route's dependencies are (`bearer_scheme`,
`bearer_token`, `db_session`, `revoked_tokens`, `authorize` with the scopes the route declares),
then the route's own endpoint, and shapes errors with the app's own problem handlers; it sits
inside the request-id, body-limit and input-check layers, so ids, access logs, metrics (labelled
with the route) and edge checks are those of every request. At start-up it checks that the route
still declares exactly the dependencies it calls, and that the route table serves that route for
the paths it takes; anything it does not take (another method, an id that is not a UUID, a
mounted root path) goes down the ordinary stack.
"""

from __future__ import annotations

import inspect
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import SecurityScopes
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from spectral_api.auth import authorize, bearer_scheme, bearer_token, revoked_tokens
from spectral_api.dependencies import app_state, db_session
from spectral_api.routes import agents
from spectral_api.routing_table import route_for, served_routes

_unit_of_work = asynccontextmanager(db_session)
_SUFFIX = "/config"
# What the endpoint is called with, by name; checked against the route's declaration at start-up.
_PATH_PARAMS = ("workspace_id", "agent_id")
_HEADER_PARAMS = ("if_none_match",)
_DEPENDENCIES = {"principal": authorize, "session": db_session, "state": app_state}


def _declared_scopes(dependant: Dependant) -> list[str]:
    """The scopes of the route's `authorize` dependency, after checking the route's signature is
    the one this module calls."""
    paths = tuple(field.name for field in dependant.path_params)
    headers = tuple(field.name for field in dependant.header_params)
    calls = {dep.name: dep.call for dep in dependant.dependencies}
    if (
        paths != _PATH_PARAMS
        or headers != _HEADER_PARAMS
        or dependant.query_params
        or dependant.body_params
        or calls != _DEPENDENCIES
    ):
        raise RuntimeError(f"{agents.runtime_config.__name__} changed its parameters: update hot_path")
    security = next(dep for dep in dependant.dependencies if dep.call is authorize)
    return [*(security.parent_oauth_scopes or []), *(security.own_oauth_scopes or [])]


async def _problem(app: FastAPI, request: Request, exc: Exception) -> Response:
    """The response the app's exception handlers give `exc` (the most specific class wins, as in
    Starlette's exception middleware)."""
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            answer = handler(request, exc)
            response: Response = await answer if inspect.isawaitable(answer) else answer
            return response
    raise exc


class RuntimeConfigPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: APIRoute | None = None
        self._scopes: SecurityScopes | None = None

    def _prepare(self, app: FastAPI) -> tuple[APIRoute, SecurityScopes]:
        if self._route is None or self._scopes is None:
            served = [
                s.route
                for s in served_routes(app)
                if isinstance(s.route, APIRoute) and s.route.endpoint is agents.runtime_config
            ]
            if len(served) != 1:
                raise RuntimeError("the app does not serve the runtime config read exactly once")
            route = served[0]
            self._scopes = SecurityScopes(scopes=_declared_scopes(route.dependant))
            sample = route.path_format.format(workspace_id=uuid.uuid4(), agent_id=uuid.uuid4())
            chosen = route_for(app, "GET", sample)
            if chosen is None or chosen.route is not route:
                raise RuntimeError(f"the router serves {sample} with another route than the config read")
            self._route = route
        return self._route, self._scopes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].endswith(_SUFFIX)
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        app: FastAPI = scope["app"]
        route, scopes = self._prepare(app)
        match = route.path_regex.match(scope["path"])
        try:
            ids = {name: uuid.UUID(match[name]) for name in _PATH_PARAMS} if match else None
        except ValueError:
            ids = None
        if ids is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {name: match[name] for name in _PATH_PARAMS} if match else {}
        request = Request(scope, receive)
        response = await self._respond(app, request, route, scopes, ids)
        await response(scope, receive, send)

    async def _respond(
        self, app: FastAPI, request: Request, route: APIRoute, scopes: SecurityScopes, ids: dict[str, Any]
    ) -> Response:
        try:
            state = await app_state(request)
            async with _unit_of_work(state, request) as session:
                token = await bearer_token(await bearer_scheme(request))
                revoked = await revoked_tokens(state, session)
                principal = await authorize(scopes, request, token, state, session, revoked)
                response: Response = await route.endpoint(
                    **ids,
                    principal=principal,
                    session=session,
                    state=state,
                    if_none_match=request.headers.get("if-none-match"),
                )
            return response
        except Exception as exc:
            return await _problem(app, request, exc)
