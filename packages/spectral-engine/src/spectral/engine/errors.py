"""Errors raised by the engine.

The engine never maps errors to HTTP itself: the platform catches these and turns them into its own
domain errors (a `ScorerParamsError` becomes a 422 on rubric create/update, `ScanCancelled` ends the scan
as `cancelled`, `BudgetExhausted` stops proposing with an event).
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class ScorerParamsError(EngineError, ValueError):
    """A scorer's params are invalid.

    `loc` is a pointer-like path to the offending value, relative to the scorer spec, e.g.
    `("params", "pattern")` or `("params", "schema", "properties", "answer", "type")`; the API prefixes
    it with the dimension's position in the rubric.
    """

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{'/'.join(str(part) for part in loc)}: {message}")
        self.loc = loc
        self.message = message


class InvalidRubricError(EngineError, ValueError):
    """A rubric, objective or config is structurally invalid (duplicate keys, weights, thresholds)."""


class ConfigDiffConflictError(EngineError):
    """A diff no longer applies: the config's current value is not the diff's `before` value."""


class BudgetExhausted(EngineError):
    """Raised by a `Judge` or `Generator` when the next gateway call would exceed the scan budget."""


class ReplayBudgetExhausted(BudgetExhausted):
    """Raised before a replay batch that would take a scan past its replay budget (calls or USD)."""


class ScanCancelled(EngineError):
    """Raised between batches when `ScanHooks.cancelled()` reports that the scan was cancelled."""
