"""Templates, page responses and the one place console errors become pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from spectral.platform.shared.errors import DomainError
from spectral_api.console.api import ApiProblem
from spectral_api.console.security import (
    CSRF_FIELD,
    clear_session,
    csrf_nonce,
    csrf_token,
    session_token,
    set_csrf_cookie,
)

HERE = Path(__file__).parent
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

# Everything the console sends comes from this origin; no inline script or style exists.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def render(request: Request, name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    nonce, new = csrf_nonce(request)
    page = templates.get_template(name).render(
        request=request,
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token(request, nonce),
        signed_in=session_token(request) is not None,
        **context,
    )
    response = HTMLResponse(page, status_code=http_status, headers=_SECURITY_HEADERS)
    if new:
        set_csrf_cookie(request, response, nonce)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """Only same-site paths: `next=` must never send a signed-in user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def error_page(request: Request, status: int, detail: str, errors: list[str] | None = None) -> Response:
    if status == 401:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response: Response = redirect(f"/login?next={quote(here, safe='')}")
        clear_session(request, response)
        return response
    return render(
        request, "error.html", http_status=status, status_code=status, detail=detail, errors=errors or []
    )


class ConsoleRoute(APIRoute):
    """A console page: API problems and domain errors are shown as pages with the same status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiProblem as problem:
                return error_page(request, problem.status, problem.detail, problem.errors)
            except DomainError as error:
                return error_page(request, error.status, error.detail)

        return page
