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
    has_parameters: bool
    methods: frozenset[str]
    route: BaseRoute


@lru_cache(maxsize=4096)
def _compiled(path: str) -> tuple[re.Pattern[str], bool]:
    regex, _, convertors = compile_path(path)
    return regex, bool(convertors)


def served_routes(app: Any) -> list[ServedRoute]:
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


def routes_at(app: Any, path: str) -> list[ServedRoute]:
    """Every route whose path matches, whatever its method."""
    return [served for served in served_routes(app) if served.regex.match(path)]


def route_for(app: Any, method: str, path: str) -> ServedRoute | None:
    """The route that serves `method path`: a fixed path before one with parameters, as declared."""
    candidates = [served for served in routes_at(app, path) if method in served.methods]
    fixed = [served for served in candidates if not served.has_parameters]
    chosen = fixed or candidates
    return chosen[0] if chosen else None
