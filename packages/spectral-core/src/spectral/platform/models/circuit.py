"""A circuit breaker per model: closed -> open after N consecutive failed calls -> half-open after
a cool-down, when exactly one probe call is let through; its success closes the circuit, its
failure opens it again.

Time is passed in (epoch seconds) so the same rules replay a model's ledger: a new gateway starts
each model's breaker from the ledger, and model health reports the state the ledger implies,
whichever process made the calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class CircuitPolicy:
    failure_threshold: int
    cooldown_s: float


class CircuitBreaker:
    def __init__(self, policy: CircuitPolicy) -> None:
        self.policy = policy
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self._probing = False

    @classmethod
    def from_history(cls, policy: CircuitPolicy, outcomes: Iterable[tuple[bool, float]]) -> CircuitBreaker:
        """Replay (succeeded, at) outcomes, oldest first."""
        breaker = cls(policy)
        for succeeded, at in outcomes:
            if succeeded:
                breaker.record_success()
            else:
                breaker.record_failure(at)
        return breaker

    def state(self, now: float) -> CircuitState:
        if self.opened_at is None:
            return CircuitState.CLOSED
        if now - self.opened_at < self.policy.cooldown_s:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def allow(self, now: float) -> bool:
        """Whether a call may go out now; in half-open only one probe at a time does."""
        state = self.state(now)
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN or self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None
        self._probing = False

    def record_failure(self, now: float) -> None:
        self.consecutive_failures += 1
        self._probing = False
        if self.consecutive_failures >= self.policy.failure_threshold:
            self.opened_at = now

    def abandon(self) -> None:
        """A let-through call ended without an outcome (cancelled): free the probe slot."""
        self._probing = False
