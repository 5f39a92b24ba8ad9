"""The app's routes as the router serves them (full paths, methods, the route object), for the
edge checks that run before or after routing: the body limit, the Allow header of a 405."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path


@dataclass(frozen=True, slots=True)
class ServedRoute:
    path: str
    regex: re.Pattern[str]
    parameters: int
    methods: frozenset[str]
    route: BaseRoute


@lru_cache(maxsize=4096)
def _compiled(path: str) -> tuple[re.Pattern[str], int]:
    regex, _, convertors = compile_path(path)
    return regex, len(convertors)


@dataclass(frozen=True, slots=True)
class _Served:
    identities: tuple[int, ...]  # of the router's routes when `routes` was computed
    routes: list[ServedRoute]


def served_routes(app: Any) -> list[ServedRoute]:
    """Computed once per app, not per request: the body limit asks on every request with a body,
    and the walk over every route costs about a millisecond. Redone when a route or router is
    added to (or removed from) the app itself."""
    identities = tuple(map(id, app.router.routes))
    cached: _Served | None = getattr(app.state, "spectral_served_routes", None)
    if cached is None or cached.identities != identities:
        cached = _Served(identities, _walk(app))
        app.state.spectral_served_routes = cached
    return cached.routes


def _walk(app: Any) -> list[ServedRoute]:
    served = []
    for context in iter_route_contexts(app.router.routes):
        if not context.path or not context.methods:
            continue
        regex, has_parameters = _compiled(context.path)
        served.append(
            ServedRoute(
                context.path, regex, has_parameters, frozenset(context.methods), context.original_route
            )
        )
    return served


def most_specific(routes: list[ServedRoute]) -> list[ServedRoute]:
    """The routes with the fewest path parameters: `rubrics/generate` is the resource meant by
    that path, not `rubrics/{rubric_id}`, which merely matches it."""
    fewest = min((served.parameters for served in routes), default=0)
    return [served for served in routes if served.parameters == fewest]


def routes_at(app: Any, path: str) -> list[ServedRoute]:
    """Every route whose path matches, whatever its method."""
    return [served for served in served_routes(app) if served.regex.match(path)]


def route_for(app: Any, method: str, path: str) -> ServedRoute | None:
    """The route that serves `method path`, the most specific first."""
    chosen = most_specific(
        [served for served in served_routes(app) if method in served.methods and served.regex.match(path)]
    )
    return chosen[0] if chosen else None


_SERVED_KEY = "spectral.served_route"


def route_of_request(scope: Any) -> BaseRoute | None:
    """The route that will serve this request (`route_for` once per request: the middlewares that
    look before the router share it)."""
    if _SERVED_KEY not in scope:
        served = route_for(scope["app"], scope["method"], scope["path"])
        scope[_SERVED_KEY] = served.route if served is not None else None
    route: BaseRoute | None = scope[_SERVED_KEY]
    return route
