"""Access tokens: signed JWTs. Decoding pins the algorithm list (no `alg: none`, no algorithm
confusion) and requires every claim we rely on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.errors import AuthenticationError
from spectral.platform.shared.settings import Settings, SettingsError

# Symmetric algorithms only: the secret is one shared string in settings.
SUPPORTED_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "iss", "aud"]

# What a 401 for a user token tells the caller to do.
LOG_IN_AGAIN = "log in again (POST /api/v1/auth/login) for a new token"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    jti: str
    expires_at: datetime
    generation: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int


class TokenCodec:
    def __init__(
        self, *, secret: str, algorithm: str, issuer: str, audience: str, lifetime: timedelta
    ) -> None:
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise SettingsError(f"SPECTRAL_JWT_ALGORITHM must be one of {sorted(SUPPORTED_ALGORITHMS)}")
        self._secret = secret
        self._algorithm = algorithm
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCodec:
        return cls(
            secret=settings.jwt_secret_value(),
            algorithm=settings.jwt_algorithm,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            lifetime=timedelta(minutes=settings.access_token_minutes),
        )

    def issue(self, user_id: uuid.UUID, *, generation: int) -> IssuedToken:
        now = utcnow()
        jti = uuid.uuid4().hex
        claims = {
            "sub": str(user_id),
            "iat": now,
            "exp": now + self._lifetime,
            "jti": jti,
            "iss": self._issuer,
            "aud": self._audience,
            "gen": generation,
        }
        token = jwt.encode(claims, self._secret, algorithm=self._algorithm)
        return IssuedToken(token=token, jti=jti, expires_in=int(self._lifetime.total_seconds()))

    def decode(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": REQUIRED_CLAIMS},
            )
            return AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                jti=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=utcnow().tzinfo),
                generation=int(claims.get("gen", 0)),
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError(f"The access token expired; {LOG_IN_AGAIN}") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise AuthenticationError(
                f"The access token is not valid here (malformed, or signed with another secret); {LOG_IN_AGAIN}"
            ) from exc
