"""Auth: register, log in and out, the caller's profile."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from spectral.platform.identity import oauth, password_reset, service
from spectral.platform.identity.credentials import digest
from spectral.platform.identity.schemas import (
    LoginRequest,
    LoginResponse,
    MeRead,
    MeUpdate,
    OAuthCallback,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RegisterRequest,
    RegisterResponse,
)
from spectral_api.auth import BearerToken, ClientSource, CurrentUser, RevokedTokensDep
from spectral_api.dependencies import AppStateDep, DbSession
from spectral_api.problems import problem_responses
from spectral_api.state import AppState

router = APIRouter(prefix="/api/v1/auth", tags=["Auth"])


async def limit_attempts(state: AppState, source: str, action: str, email: str) -> None:
    """Abuse guard on the public credential endpoints, counted like login attempts: per (email,
    client address), so nobody can use up the owner's attempts from elsewhere, and per client
    address across emails."""
    settings = state.settings
    pair = f"{action}:pair:{source}:{digest(service.normalise_email(email))[:32]}"
    await state.rate_limiter.hit(pair, limit=settings.rate_limit_login_per_minute)
    await state.rate_limiter.hit(
        f"{action}:source:{source}", limit=settings.rate_limit_login_per_source_per_minute
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 409, 422, 429),
    summary="Create a user with a new account and workspace (or join one with an invite)",
)
async def register(
    body: RegisterRequest, source: ClientSource, response: Response, state: AppStateDep, session: DbSession
) -> RegisterResponse:
    await limit_attempts(state, source, "register", body.email)
    created = await service.register(session, body, passwords=state.passwords, tokens=state.tokens)
    response.headers["Location"] = "/api/v1/auth/me"
    return created


@router.post(
    "/login", responses=problem_responses(401, 422, 429), summary="Exchange email and password for a token"
)
async def login(
    body: LoginRequest, source: ClientSource, state: AppStateDep, session: DbSession
) -> LoginResponse:
    return await service.login(
        session,
        body,
        source=source,
        throttle=state.login_throttle,
        passwords=state.passwords,
        tokens=state.tokens,
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403),
    summary="Revoke the presented token",
)
async def logout(
    _: CurrentUser, token: BearerToken, state: AppStateDep, revoked: RevokedTokensDep, session: DbSession
) -> None:
    await service.logout(session, token, tokens=state.tokens, revoked=revoked)


@router.get(
    "/me", responses=problem_responses(401, 403), summary="The caller's profile, accounts and workspaces"
)
async def me(principal: CurrentUser, session: DbSession) -> MeRead:
    return await service.me(session, principal.user_id)


@router.patch(
    "/me",
    responses=problem_responses(400, 401, 403, 409, 422, 429),
    summary="Update the caller's profile (a new email needs current_password)",
)
async def update_me(
    principal: CurrentUser, body: MeUpdate, source: ClientSource, state: AppStateDep, session: DbSession
) -> MeRead:
    return await service.update_me(
        session,
        principal.user_id,
        body,
        source=source,
        throttle=state.login_throttle,
        passwords=state.passwords,
    )


@router.post(
    "/me/password",
    responses=problem_responses(400, 401, 403, 422, 429),
    summary="Change the password; every other token stops working, a fresh one is returned",
)
async def change_password(
    principal: CurrentUser, body: PasswordChange, source: ClientSource, state: AppStateDep, session: DbSession
) -> LoginResponse:
    return await service.change_password(
        session,
        principal.user_id,
        body,
        source=source,
        throttle=state.login_throttle,
        passwords=state.passwords,
        tokens=state.tokens,
    )


class PasswordResetAccepted(BaseModel):
    """The same answer whether or not the address has an account (no enumeration)."""

    status: Literal["accepted"] = "accepted"
    detail: str = "If an account uses this address, a reset link has been sent to it."


@router.post(
    "/reset-password",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(422, 429),
    summary="Mail a reset token if the address has an account (always 202)",
)
async def request_password_reset(
    body: PasswordResetRequest, source: ClientSource, state: AppStateDep, session: DbSession
) -> PasswordResetAccepted:
    await limit_attempts(state, source, "reset", body.email)
    password_reset.request_reset(session, body.email)
    return PasswordResetAccepted()


@router.post(
    "/reset-password/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 422, 429),
    summary="Set a new password with a reset token; ends every existing session",
)
async def confirm_password_reset(
    body: PasswordResetConfirm, source: ClientSource, state: AppStateDep, session: DbSession
) -> None:
    await state.rate_limiter.hit(
        f"reset-confirm:source:{source}", limit=state.settings.rate_limit_login_per_minute
    )
    await password_reset.confirm_reset(session, body.token, body.new_password, passwords=state.passwords)


@router.get(
    "/oauth/{provider}",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={302: {"description": "Redirect to the provider"}, **problem_responses(400, 404)},
    summary="Start signing in with an OAuth/OIDC provider (state + PKCE S256)",
)
async def oauth_start(provider: str, state: AppStateDep, session: DbSession) -> RedirectResponse:
    url = await oauth.start(session, provider, state.settings)
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND, headers={"Cache-Control": "no-store"})


@router.post(
    "/callback",
    responses=problem_responses(400, 401, 404, 422, 429),
    summary="Finish an OAuth sign-in: exchange the code, link or create the user, return a token",
)
async def oauth_callback(
    body: OAuthCallback, source: ClientSource, state: AppStateDep, session: DbSession
) -> LoginResponse:
    await state.rate_limiter.hit(f"oauth:source:{source}", limit=state.settings.rate_limit_login_per_minute)
    return await oauth.callback(session, body, state.settings, tokens=state.tokens)
