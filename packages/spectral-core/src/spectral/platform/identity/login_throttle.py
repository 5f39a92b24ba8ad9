"""Login throttling that slows password guessing without letting anyone lock a user out.

Three counters, all over the same one-minute windows:

- per (account, source): attempts at one email from one client address. This stops guessing
  one password; it cannot lock the owner out, who signs in from another address. A success
  clears it (an owner who mistyped twice does not carry the count on).
- per source, across accounts: every attempt from one address, whatever the email. This stops
  credential stuffing (one address trying a leaked list against many accounts), and bounds the
  argon2 work one address can ask for. Successes count too and never clear it.
- a global ceiling on failed logins across every source: past it, a source that has failed in
  the current window gets no further attempt until its window ends, while a source that has not
  failed still signs in. Distributed guessing, many addresses a few attempts each, is cut to one
  attempt per address and window; the owner, who has not failed, is never in the way of it.

Attempts are counted before the password is checked, so concurrent requests cannot slip past a
limit while the (slow) verification of the others runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from spectral.platform.identity.credentials import digest
from spectral.platform.identity.rate_limit import WINDOW_SECONDS, RateLimiter, limited

TOO_MANY_FOR_ACCOUNT = "Too many sign-in attempts for this account from your address; try again later"
TOO_MANY_FROM_SOURCE = "Too many sign-in attempts from your address; try again later"
UNDER_ATTACK = "Sign-in is throttled after failed attempts from your address; try again later"


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_account_source: int
    per_source: int
    global_failures: int
    window: int = WINDOW_SECONDS


class LoginThrottle:
    def __init__(self, counters: RateLimiter, limits: LoginLimits, *, action: str = "login") -> None:
        self._counters = counters
        self._limits = limits
        self._action = action

    def _pair(self, email: str, source: str) -> str:
        # A digest, so the counters' store never holds the addresses people sign in with.
        return f"{self._action}:pair:{source}:{digest(email)[:32]}"

    def _source(self, source: str) -> str:
        return f"{self._action}:source:{source}"

    def _failed_source(self, source: str) -> str:
        return f"{self._action}:failed:{source}"

    @property
    def _global_failures(self) -> str:
        return f"{self._action}:failures"

    async def attempt(self, email: str, source: str) -> None:
        """Count an attempt; raise `RateLimitedError` (429 + Retry-After) when it may not run."""
        window = self._limits.window
        pair = await self._counters.add(self._pair(email, source), window=window)
        if pair.count > self._limits.per_account_source:
            raise limited(TOO_MANY_FOR_ACCOUNT, pair.retry_after)
        from_source = await self._counters.add(self._source(source), window=window)
        if from_source.count > self._limits.per_source:
            raise limited(TOO_MANY_FROM_SOURCE, from_source.retry_after)
        failures = await self._counters.peek(self._global_failures)
        if failures.count >= self._limits.global_failures:
            failed_here = await self._counters.peek(self._failed_source(source))
            if failed_here.count > 0:
                raise limited(UNDER_ATTACK, failed_here.retry_after)

    async def failed(self, source: str) -> None:
        window = self._limits.window
        await self._counters.add(self._global_failures, window=window)
        await self._counters.add(self._failed_source(source), window=window)

    async def succeeded(self, email: str, source: str) -> None:
        await self._counters.reset(self._pair(email, source))
