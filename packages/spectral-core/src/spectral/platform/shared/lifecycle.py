"""Lifecycles as explicit transition tables: `(status, action) -> status`, checked in one place."""

from __future__ import annotations

from collections.abc import Mapping

from spectral.platform.shared.errors import InvalidTransitionError


class Lifecycle:
    def __init__(self, kind: str, transitions: Mapping[tuple[str, str], str]) -> None:
        self.kind = kind
        self.transitions = dict(transitions)

    def next_status(self, resource_id: object, status: str, action: str) -> str:
        try:
            return self.transitions[(status, action)]
        except KeyError:
            allowed = sorted(a for (s, a) in self.transitions if s == status)
            hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
            raise InvalidTransitionError(
                f"{self.kind} {resource_id} is {status}; cannot {action}{hint}"
            ) from None

    def can(self, status: str, action: str) -> bool:
        return (status, action) in self.transitions
