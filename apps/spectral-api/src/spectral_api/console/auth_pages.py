"""Sign in, register, sign out, password reset, invites and the OAuth callback: the pages the
product's emails and OAuth redirect already link to."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from spectral.platform.identity.oauth import configured_providers
from spectral_api.console.api import Api, ApiProblem, problem_of
from spectral_api.console.rendering import ConsoleRoute, redirect, render, safe_next
from spectral_api.console.security import CheckedForm, clear_session, session_token, set_session

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
OAUTH_PROVIDER_COOKIE = "spectral_oauth_provider"


def _token_lifetime(request: Request) -> int:
    return int(request.app.state.spectral.settings.access_token_minutes) * 60


def _signed_in(request: Request, token: str, target: str, max_age: int | None = None) -> Response:
    response = redirect(safe_next(target))
    set_session(request, response, token, max_age or _token_lifetime(request))
    return response


def _providers(request: Request) -> list[str]:
    return sorted(configured_providers(request.app.state.spectral.settings))


@router.get("/")
async def home(request: Request) -> Response:
    token = session_token(request)
    if token is None:
        return redirect("/login")
    me = await Api(request, token).get("/api/v1/auth/me")
    if not me["workspaces"]:
        return render(request, "no_workspace.html", me=me)
    return redirect(f"/w/{me['workspaces'][0]['id']}")


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=safe_next(next), providers=_providers(request))


@router.post("/login")
async def login(request: Request, form: CheckedForm) -> Response:
    body = {"email": form.get("email", ""), "password": form.get("password", "")}
    answer = await Api(request, None).send("POST", "/api/v1/auth/login", json=body)
    if answer.status_code != 200:
        problem = problem_of(answer)
        return render(
            request,
            "login.html",
            http_status=answer.status_code,
            next=safe_next(form.get("next")),
            providers=_providers(request),
            email=body["email"],
            problem=problem,
        )
    token = answer.json()
    return _signed_in(request, token["access_token"], form.get("next", "/"), token.get("expires_in"))


@router.get("/register")
async def register_page(request: Request, invite_token: str | None = None) -> Response:
    return render(request, "register.html", invite_token=invite_token or "")


@router.post("/register")
async def register(request: Request, form: CheckedForm) -> Response:
    body: dict[str, Any] = {
        "email": form.get("email", ""),
        "password": form.get("password", ""),
        "tenant_name": form.get("tenant_name", ""),
    }
    if form.get("invite_token"):
        body["invite_token"] = form["invite_token"]
    answer = await Api(request, None).send("POST", "/api/v1/auth/register", json=body)
    if answer.status_code != 201:
        return render(
            request,
            "register.html",
            http_status=answer.status_code,
            invite_token=form.get("invite_token", ""),
            email=body["email"],
            tenant_name=body["tenant_name"],
            problem=problem_of(answer),
        )
    created = answer.json()
    return _signed_in(request, created["access_token"], f"/w/{created['workspace_id']}")


@router.post("/logout")
async def logout(request: Request, form: CheckedForm) -> Response:
    token = session_token(request)
    if token:
        # An expired or revoked token is already as good as logged out.
        await Api(request, token).send("POST", "/api/v1/auth/logout")
    response = redirect("/login")
    clear_session(request, response)
    return response


@router.get("/reset-password")
async def reset_password_page(request: Request, token: str | None = None) -> Response:
    return render(request, "reset_password.html", token=token or "")


@router.post("/reset-password")
async def request_reset(request: Request, form: CheckedForm) -> Response:
    answer = await Api(request, None).send(
        "POST", "/api/v1/auth/reset-password", json={"email": form.get("email", "")}
    )
    if answer.status_code != 202:
        return render(
            request,
            "reset_password.html",
            http_status=answer.status_code,
            token="",
            problem=problem_of(answer),
        )
    return render(request, "reset_password.html", token="", requested=True)


@router.post("/reset-password/confirm")
async def confirm_reset(request: Request, form: CheckedForm) -> Response:
    token = form.get("token", "")
    if form.get("new_password") != form.get("confirm_password"):
        problem = ApiProblem(422, "The two passwords differ")
        return render(request, "reset_password.html", http_status=422, token=token, problem=problem)
    answer = await Api(request, None).send(
        "POST",
        "/api/v1/auth/reset-password/confirm",
        json={"token": token, "new_password": form.get("new_password", "")},
    )
    if answer.status_code != 204:
        return render(
            request,
            "reset_password.html",
            http_status=answer.status_code,
            token=token,
            problem=problem_of(answer),
        )
    return render(request, "reset_password.html", token="", done=True)


@router.get("/invites/accept")
async def invite_page(request: Request, token: Annotated[str, Query(max_length=500)] = "") -> Response:
    return render(request, "invite.html", token=token, next=quote(f"/invites/accept?token={token}", safe=""))


@router.post("/invites/accept")
async def accept_invite(request: Request, form: CheckedForm) -> Response:
    token = session_token(request)
    if token is None:
        raise ApiProblem(401, "Sign in to accept the invite")
    await Api(request, token).post("/api/v1/account/invites/accept", {"token": form.get("token", "")})
    return redirect("/")


@router.get("/auth/start/{provider}")
async def oauth_start(request: Request, provider: str) -> Response:
    """Remember which provider the browser went to, for the callback that does not name it."""
    if provider not in _providers(request):
        raise ApiProblem(404, f"OAuth provider {provider} is not configured")
    response = redirect(f"/api/v1/auth/oauth/{quote(provider)}")
    response.set_cookie(OAUTH_PROVIDER_COOKIE, provider, max_age=900, httponly=True, samesite="lax", path="/")
    return response


@router.get("/auth/callback")
async def oauth_callback(
    request: Request,
    code: Annotated[str, Query(max_length=2000)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
    provider: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    name = provider or request.cookies.get(OAUTH_PROVIDER_COOKIE, "")
    if error or not code or not state or not name:
        detail = f"The provider refused the sign-in: {error}" if error else "This sign-in link is incomplete."
        return render(request, "oauth_callback.html", http_status=400, detail=detail)
    answer = await Api(request, None).send(
        "POST", "/api/v1/auth/callback", json={"provider": name, "code": code, "state": state}
    )
    if answer.status_code != 200:
        return render(
            request, "oauth_callback.html", http_status=answer.status_code, detail=problem_of(answer).detail
        )
    tokens = answer.json()
    response = _signed_in(request, tokens["access_token"], "/", tokens.get("expires_in"))
    response.delete_cookie(OAUTH_PROVIDER_COOKIE, path="/")
    return response
