"""A spending limit shared by every gateway call of one scan.

A call reserves its estimated price before it is sent and settles at its actual price after, so
concurrent calls (the judge asks eight at a time) cannot together overshoot the limit: the check
counts what is in flight, not only what is spent.
"""

from __future__ import annotations

from spectral.engine.errors import BudgetExhausted

# Float sums of many small prices drift; a call that fits up to this much is allowed.
_TOLERANCE_USD = 1e-9


class Budget:
    def __init__(self, limit_usd: float, *, spent_usd: float = 0.0) -> None:
        if limit_usd < 0:
            raise ValueError("a budget cannot be negative")
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.reserved_usd = 0.0

    @property
    def remaining_usd(self) -> float:
        return max(0.0, self.limit_usd - self.spent_usd - self.reserved_usd)

    def reserve(self, amount_usd: float) -> float:
        """Hold `amount_usd` for a call about to be made, or raise `BudgetExhausted` (nothing held)."""
        if self.spent_usd + self.reserved_usd + amount_usd > self.limit_usd + _TOLERANCE_USD:
            raise BudgetExhausted(
                f"the next model call (about ${amount_usd:.6f}) would exceed the budget of "
                f"${self.limit_usd:.6f} (spent ${self.spent_usd:.6f}, in flight ${self.reserved_usd:.6f})"
            )
        self.reserved_usd += amount_usd
        return amount_usd

    def settle(self, reserved_usd: float, actual_usd: float) -> None:
        """Replace a reservation by what the call actually cost (0 when it failed)."""
        self.reserved_usd = max(0.0, self.reserved_usd - reserved_usd)
        self.spent_usd += actual_usd
