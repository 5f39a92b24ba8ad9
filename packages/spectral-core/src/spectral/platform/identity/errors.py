"""Identity's errors, specialised from the shared domain errors so the API maps them as usual."""

from __future__ import annotations

from spectral.platform.shared.errors import AuthenticationError, BadRequestError


class InvalidCredentialsError(AuthenticationError):
    """Wrong email or password: one message for both, so a response never reveals which."""

    def __init__(self) -> None:
        super().__init__("Invalid email or password")


class InvalidTokenError(BadRequestError):
    """A reset or invite token that is unknown, used, revoked or expired."""
