"""Sign-in with GitHub, Google or a generic OIDC provider (authorization code + PKCE S256).

The PKCE verifier never leaves the server: the browser carries only `state`, whose digest keys
the pending sign-in (single use, 10 minutes). The callback exchanges the code, reads the
provider's user info, then links the identity to a user (by provider subject, or by a verified
email) or creates the user with a tenant of their own."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.identity.credentials import digest, new_token
from spectral.platform.identity.errors import InvalidCredentialsError
from spectral.platform.identity.models import OAuthIdentity, OAuthState, User
from spectral.platform.identity.schemas import LoginResponse, OAuthCallback
from spectral.platform.identity.service import create_tenant, issue_session
from spectral.platform.identity.tokens import TokenCodec
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.errors import AuthenticationError, BadRequestError, NotFoundError
from spectral.platform.shared.settings import Settings

STATE_LIFETIME = timedelta(minutes=10)
HTTP_TIMEOUT = httpx.Timeout(10.0)
GITHUB_AUTHORIZE = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN = "https://github.com/login/oauth/access_token"
GITHUB_API = "https://api.github.com"
GOOGLE_ISSUER = "https://accounts.google.com"


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    client_id: str
    client_secret: str
    scope: str
    # OIDC providers are described by their issuer's discovery document; GitHub is not OIDC.
    issuer: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorize: str
    token: str
    userinfo: str


@dataclass(frozen=True, slots=True)
class ProviderUser:
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def configured_providers(settings: Settings) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    if settings.oauth_github_client_id and settings.oauth_github_client_secret:
        providers["github"] = Provider(
            "github",
            settings.oauth_github_client_id,
            settings.oauth_github_client_secret.get_secret_value(),
            "read:user user:email",
        )
    if settings.oauth_google_client_id and settings.oauth_google_client_secret:
        providers["google"] = Provider(
            "google",
            settings.oauth_google_client_id,
            settings.oauth_google_client_secret.get_secret_value(),
            "openid email profile",
            issuer=GOOGLE_ISSUER,
        )
    if settings.oidc_issuer_url and settings.oidc_client_id and settings.oidc_client_secret:
        providers["oidc"] = Provider(
            "oidc",
            settings.oidc_client_id,
            settings.oidc_client_secret.get_secret_value(),
            "openid email profile",
            issuer=settings.oidc_issuer_url,
        )
    return providers


def redirect_uri(settings: Settings) -> str:
    return settings.oauth_redirect_url or settings.public_url.rstrip("/") + "/auth/callback"


def _provider(providers: dict[str, Provider], name: str) -> Provider:
    try:
        return providers[name]
    except KeyError:
        raise NotFoundError(f"OAuth provider {name} is not configured") from None


async def _endpoints(provider: Provider, http: httpx.AsyncClient) -> Endpoints:
    if provider.issuer is None:
        return Endpoints(GITHUB_AUTHORIZE, GITHUB_TOKEN, GITHUB_API + "/user")
    response = await http.get(provider.issuer.rstrip("/") + "/.well-known/openid-configuration")
    response.raise_for_status()
    document = response.json()
    return Endpoints(
        document["authorization_endpoint"], document["token_endpoint"], document["userinfo_endpoint"]
    )


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def start(session: AsyncSession, provider_name: str, settings: Settings) -> str:
    """Record a pending sign-in and return the provider URL to send the browser to."""
    provider = _provider(configured_providers(settings), provider_name)
    state, verifier = new_token(), secrets.token_urlsafe(64)
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        try:
            endpoints = await _endpoints(provider, http)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise BadRequestError(f"OAuth provider {provider.name} is unreachable or misconfigured") from exc
    session.add(
        OAuthState(
            state_hash=digest(state),
            provider=provider.name,
            code_verifier=verifier,
            expires_at=utcnow() + STATE_LIFETIME,
        )
    )
    await session.flush()
    query = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri(settings),
        "scope": provider.scope,
        "state": state,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{endpoints.authorize}?{urlencode(query)}"


async def _exchange(
    provider: Provider,
    endpoints: Endpoints,
    code: str,
    verifier: str,
    settings: Settings,
    http: httpx.AsyncClient,
) -> str:
    response = await http.post(
        endpoints.token,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri(settings),
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "code_verifier": verifier,
        },
        headers={"Accept": "application/json"},
    )
    response.raise_for_status()
    token = response.json().get("access_token")
    if not isinstance(token, str) or not token:
        raise BadRequestError("The OAuth provider did not return an access token")
    return token


async def _user_info(
    provider: Provider, endpoints: Endpoints, access_token: str, http: httpx.AsyncClient
) -> ProviderUser:
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    response = await http.get(endpoints.userinfo, headers=headers)
    response.raise_for_status()
    info: dict[str, Any] = response.json()
    if provider.issuer is not None:
        return ProviderUser(
            subject=str(info["sub"]),
            email=info.get("email"),
            email_verified=info.get("email_verified") is True,
            name=info.get("name"),
        )
    # GitHub: the profile's email is optional; the verified primary address is listed separately.
    emails = await http.get(GITHUB_API + "/user/emails", headers=headers)
    emails.raise_for_status()
    primary = next((e for e in emails.json() if e.get("primary") and e.get("verified")), None)
    return ProviderUser(
        subject=str(info["id"]),
        email=primary["email"] if primary else None,
        email_verified=primary is not None,
        name=info.get("name") or info.get("login"),
    )


async def _link_or_create(session: AsyncSession, provider: Provider, person: ProviderUser) -> User:
    identity = await repository.get_oauth_identity(session, provider.name, person.subject)
    if identity is not None:
        user = await repository.get_user(session, identity.user_id)
        if user is None or not user.is_active:
            raise InvalidCredentialsError()
        return user
    # Only a verified address may claim an existing account; otherwise anyone could register
    # "victim@example.com" at a provider and take the victim's Spectral account over.
    if person.email is None or not person.email_verified:
        raise AuthenticationError("The OAuth provider did not vouch for an email address")
    email = person.email.strip().lower()
    user = await repository.get_user_by_email(session, email)
    if user is None:
        user = User(email=email, display_name=person.name)
        session.add(user)
        await session.flush()
        await create_tenant(session, user, f"{person.name or email}'s account")
    elif not user.is_active:
        raise InvalidCredentialsError()
    session.add(OAuthIdentity(provider=provider.name, subject=person.subject, user_id=user.id, email=email))
    await session.flush()
    return user


async def callback(
    session: AsyncSession, body: OAuthCallback, settings: Settings, *, tokens: TokenCodec
) -> LoginResponse:
    provider = _provider(configured_providers(settings), body.provider)
    pending = await repository.take_oauth_state(session, digest(body.state))
    if pending is None or pending.provider != provider.name or as_utc(pending.expires_at) <= utcnow():
        raise BadRequestError("The OAuth state is invalid or expired; start the sign-in again")
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        try:
            endpoints = await _endpoints(provider, http)
            access_token = await _exchange(
                provider, endpoints, body.code, pending.code_verifier, settings, http
            )
            person = await _user_info(provider, endpoints, access_token, http)
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            raise BadRequestError(
                f"Sign-in with {provider.name} failed: the provider refused the code"
            ) from exc
    user = await _link_or_create(session, provider, person)
    return await issue_session(session, user, tokens=tokens)
