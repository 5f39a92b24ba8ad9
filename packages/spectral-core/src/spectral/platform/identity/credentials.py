"""Secrets handed to clients (API keys, reset and invite tokens, OAuth state): generated here,
stored only as SHA-256 digests. A SHA-256 digest suffices because these are high-entropy
random strings, not passwords: there is nothing to brute-force."""

from __future__ import annotations

import hashlib
import secrets
import string

API_KEY_PREFIX = "sk_live_"
_BASE62 = string.digits + string.ascii_letters
# 43 base62 characters carry 256 bits, above the 32 bytes asked for.
_API_KEY_SECRET_LENGTH = 43
# The public part shown in listings: enough to tell keys apart, useless for guessing the rest.
_PUBLIC_PREFIX_LENGTH = 8


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    """A URL-safe single-use token (password reset, invite, OAuth state): 256 bits."""
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """(plaintext key, public prefix). The plaintext is shown once and never stored."""
    body = "".join(secrets.choice(_BASE62) for _ in range(_API_KEY_SECRET_LENGTH))
    return API_KEY_PREFIX + body, API_KEY_PREFIX + body[:_PUBLIC_PREFIX_LENGTH]


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)
