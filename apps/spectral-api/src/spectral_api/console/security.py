"""The console's session and CSRF protection.

- The session is the API's own short-lived JWT in an HttpOnly, SameSite=Lax cookie (Secure when
  the public URL is https): no second credential exists, and logging out revokes the JWT.
- Every state-changing form carries a synchronizer token: an HMAC (keyed with the JWT secret) of
  a random per-browser nonce kept in its own HttpOnly, SameSite=Strict cookie. A forged form has
  neither the cookie's nonce nor the key, so `require_csrf` — the one place forms are checked —
  refuses it with 403 before any handler runs. A cross-site `Origin` is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, Request, Response

from spectral.platform.shared.errors import ForbiddenError, PayloadTooLargeError
from spectral_api.dependencies import AppStateDep

SESSION_COOKIE = "spectral_session"
CSRF_COOKIE = "spectral_csrf"
CSRF_FIELD = "csrf_token"
# Console forms are a few fields; anything larger is not one of ours.
MAX_FORM_BYTES = 64 * 1024

Form = dict[str, str]


def _secure(request: Request) -> bool:
    state = request.app.state.spectral
    return bool(state.settings.public_url.startswith("https://"))


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def set_session(request: Request, response: Response, token: str, max_age: int | None) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))


def _sign(key: str, nonce: str) -> str:
    return hmac.new(key.encode(), f"spectral-console-csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_nonce(request: Request) -> tuple[str, bool]:
    """The browser's nonce, and whether it is new (and so must be set on the response)."""
    current = request.cookies.get(CSRF_COOKIE)
    if current and len(current) <= 64:
        return current, False
    return secrets.token_urlsafe(24), True


def csrf_token(request: Request, nonce: str) -> str:
    return _sign(request.app.state.spectral.settings.jwt_secret_value(), nonce)


def set_csrf_cookie(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )


async def read_form(request: Request) -> Form:
    """The url-encoded form of the request (the first value of each field)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PayloadTooLargeError(f"A console form is at most {MAX_FORM_BYTES} bytes")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


async def require_csrf(request: Request, state: AppStateDep) -> Form:
    """The posted form, once its CSRF token and origin are proven; 403 otherwise."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = urlsplit(str(request.base_url)).netloc
        public = urlsplit(state.settings.public_url).netloc
        if urlsplit(origin).netloc not in (expected, public):
            raise ForbiddenError("Cross-site form posts are refused")
    form = await read_form(request)
    nonce = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if (
        not nonce
        or not sent
        or not hmac.compare_digest(sent, _sign(state.settings.jwt_secret_value(), nonce))
    ):
        raise ForbiddenError("The form's CSRF token is missing or invalid: reload the page and try again")
    return form


CheckedForm = Annotated[Form, Depends(require_csrf)]
