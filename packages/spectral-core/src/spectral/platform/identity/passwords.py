"""argon2id password hashing with argon2-cffi's RFC 9106 low-memory profile (t=3, m=64 MiB,
p=4) unless the settings say otherwise. A stored hash made with other parameters is redone at
the next successful login (`needs_rehash`). Hashing and verification run in a thread: they are
deliberately slow and must not block the event loop."""

from __future__ import annotations

import asyncio
import dataclasses

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from spectral.platform.shared.settings import Settings

PROFILE = profiles.RFC_9106_LOW_MEMORY


class Passwords:
    def __init__(self, parameters: Parameters = PROFILE) -> None:
        self.parameters = parameters
        self._hasher = PasswordHasher.from_parameters(parameters)
        # Verified against when the email is unknown, so both answers take the same time.
        self._decoy = self._hasher.hash("decoy password that matches nothing")

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        overrides = settings.argon2_overrides()
        return cls(
            dataclasses.replace(
                PROFILE,
                time_cost=overrides.get("time_cost", PROFILE.time_cost),
                memory_cost=overrides.get("memory_cost", PROFILE.memory_cost),
                parallelism=overrides.get("parallelism", PROFILE.parallelism),
            )
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; a missing hash still costs one full verification."""
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._decoy, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
