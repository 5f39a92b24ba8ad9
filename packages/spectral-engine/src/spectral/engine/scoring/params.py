"""Reading scorer params with errors that point at the offending value.

Every scorer builder reads its params through a `ParamReader`, so validation and construction are
one code path: what `validate_scorer_params` accepts is exactly what the scorer will run with.
Unknown params are errors (a typo such as `max_char` must not silently disable a check).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from spectral.engine.errors import ScorerParamsError

Loc = tuple[str | int, ...]


class ParamReader:
    def __init__(self, params: Mapping[str, Any], loc: Loc = ("params",)) -> None:
        if not isinstance(params, Mapping):
            raise ScorerParamsError(loc, "must be an object")
        self._params = params
        self._loc = loc
        self._read: set[str] = set()

    def loc(self, name: str) -> Loc:
        return (*self._loc, name)

    def has(self, name: str) -> bool:
        return self._params.get(name) is not None

    def raw(self, name: str) -> Any:
        self._read.add(name)
        return self._params.get(name)

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                raise ScorerParamsError(self.loc(name), "is required")
            return default
        if not isinstance(value, str):
            raise ScorerParamsError(self.loc(name), "must be a string")
        if required and not value:
            raise ScorerParamsError(self.loc(name), "must not be empty")
        return value

    def required_string(self, name: str) -> str:
        value = self.string(name, required=True)
        assert value is not None  # required=True raised otherwise
        return value

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.string(name, default)
        if value not in options:
            raise ScorerParamsError(self.loc(name), f"must be one of {', '.join(options)}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ScorerParamsError(self.loc(name), "must be true or false")
        return value

    def number(
        self,
        name: str,
        default: float | None = None,
        *,
        required: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float | None:
        value = self.raw(name)
        if value is None:
            if required:
                raise ScorerParamsError(self.loc(name), "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ScorerParamsError(self.loc(name), "must be a finite number")
        if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
            relation = ">" if exclusive_minimum else ">="
            raise ScorerParamsError(self.loc(name), f"must be {relation} {minimum:g}")
        if maximum is not None and value > maximum:
            raise ScorerParamsError(self.loc(name), f"must be <= {maximum:g}")
        return float(value)

    def required_number(
        self, name: str, *, minimum: float | None = None, exclusive_minimum: bool = False
    ) -> float:
        value = self.number(name, required=True, minimum=minimum, exclusive_minimum=exclusive_minimum)
        assert value is not None  # required=True raised otherwise
        return value

    def string_list(self, name: str, *, required: bool = False) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            if required:
                raise ScorerParamsError(self.loc(name), "is required")
            return ()
        if not isinstance(value, (list, tuple)):
            raise ScorerParamsError(self.loc(name), "must be a list of strings")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise ScorerParamsError((*self.loc(name), index), "must be a non-empty string")
        if required and not value:
            raise ScorerParamsError(self.loc(name), "must not be empty")
        return tuple(value)

    def finish(self) -> None:
        """Reject params nobody read: they are typos or belong to another scorer type."""
        for name in sorted(set(self._params) - self._read):
            raise ScorerParamsError(self.loc(name), "unknown parameter")
