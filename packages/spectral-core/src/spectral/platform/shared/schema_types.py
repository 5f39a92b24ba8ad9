"""What every value that reaches the database must be, in one place: integers fit a 64-bit column,
floats are finite, and text holds no NUL character (PostgreSQL refuses it in `text` and `jsonb`).

Schemas and query/path parameters use the annotated integer types; the API checks every JSON
body, query string and path with `unstorable_values` before a handler runs, so a value the
database would refuse is a 422 naming its location, never a 500.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any

import annotated_types

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# `Annotated[Int64, Query(...)]` / `Path(...)` / `Field(...)` keep these bounds (they are not
# FieldInfo, so FastAPI and Pydantic both apply them and OpenAPI shows minimum/maximum).
Int64 = Annotated[int, annotated_types.Ge(INT64_MIN), annotated_types.Le(INT64_MAX)]
NonNegativeInt64 = Annotated[int, annotated_types.Ge(0), annotated_types.Le(INT64_MAX)]
PositiveInt64 = Annotated[int, annotated_types.Ge(1), annotated_types.Le(INT64_MAX)]

NUL = "\x00"

Loc = tuple[str | int, ...]


def unstorable_values(value: Any, loc: Loc = ()) -> Iterator[dict[str, Any]]:
    """Every value inside a parsed JSON document that no column can store, as validation errors
    (`{"loc", "msg", "type"}`); keys are checked too."""
    if isinstance(value, str):
        if NUL in value:
            yield {
                "loc": list(loc),
                "msg": "Text must not contain NUL (\\u0000) characters",
                "type": "string_nul",
            }
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            yield {"loc": list(loc), "msg": "Integer does not fit in 64 bits", "type": "int_out_of_range"}
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield {"loc": list(loc), "msg": "Number must be finite", "type": "finite_number"}
    elif isinstance(value, dict):
        for key, item in value.items():
            # The location names the key as the client can read it: a NUL shown as \u0000.
            shown = key.replace(NUL, "\\u0000")
            if NUL in key:
                yield {
                    "loc": [*loc, shown],
                    "msg": "Keys must not contain NUL (\\u0000) characters",
                    "type": "string_nul",
                }
            yield from unstorable_values(item, (*loc, shown))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_values(item, (*loc, index))
