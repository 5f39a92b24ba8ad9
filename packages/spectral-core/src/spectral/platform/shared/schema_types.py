"""What a request value must be, in one place.

**Types.** A JSON body states its types, and a value of another JSON type is a 422 naming it:
Pydantic's lax mode would read `1` or `"yes"` as `true`, `true` or `"5"` as a number and `0.5`
as a date-time. Request bodies therefore use the JSON types below (`JsonBool`, `JsonInt`,
`JsonFloat`, the bounded integers), query and path parameters the `...Param` types (a query
string is text by nature: a flag is exactly `true` or `false`, a number its decimal text), and
both `IsoDateTime` (an ISO 8601 string, never a bare number). A PATCH field that may be left out
but not cleared is `NotNull[T]`: its schema is not nullable and `null` is a 422.

**Storage.** Integers fit a 64-bit column, floats are finite, and text holds no NUL character
(PostgreSQL refuses it in `text` and `jsonb`). The API checks every JSON body, query string and
path with `unstorable_values` before a handler runs, so a value the database would refuse is a
422 naming its location, never a 500.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

import annotated_types
from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, Strict
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# --- JSON request bodies: the JSON type the schema states, nothing coerced ---------------------
JsonBool = Annotated[bool, Strict()]
JsonInt = Annotated[int, Strict()]
# A JSON integer is a number too; a boolean or a string is not.
JsonFloat = Annotated[float, Strict()]
# `Annotated[PositiveInt64, Field(...)]` keeps these bounds (they are not FieldInfo, so Pydantic
# applies them and OpenAPI shows minimum/maximum).
NonNegativeInt64 = Annotated[int, Strict(), annotated_types.Ge(0), annotated_types.Le(INT64_MAX)]
PositiveInt64 = Annotated[int, Strict(), annotated_types.Ge(1), annotated_types.Le(INT64_MAX)]

# --- query and path parameters: text, read as the type it spells ---------------------------------
# `Annotated[NonNegativeInt64Param, Query(...)]` / `Path(...)` keep the bounds the same way.
NonNegativeInt64Param = Annotated[int, annotated_types.Ge(0), annotated_types.Le(INT64_MAX)]
PositiveInt64Param = Annotated[int, annotated_types.Ge(1), annotated_types.Le(INT64_MAX)]


def _bool_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise PydanticCustomError("bool_parsing", "Input should be true or false")


# Lax Pydantic would also take 0/1, yes/no, on/off, t/f.
BoolParam = Annotated[bool, BeforeValidator(_bool_text)]

# --- date-times, in bodies and parameters alike ---------------------------------------------------
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_8601(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise PydanticCustomError(
        "datetime_iso8601", "Input should be an ISO 8601 date-time such as 2026-01-31T12:00:00Z"
    )


# Lax Pydantic would read a number, or a string holding one, as seconds since 1970.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601)]

# --- PATCH fields that may be left out but not cleared --------------------------------------------
T = TypeVar("T")


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("not_null", "Input may be left out, but not null")
    return value


class _NotNullMarker:
    """Validation refuses an explicit `null`; the JSON schema drops its `null` branch. The Python
    default stays `None` (left out), which Pydantic does not validate."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(_refuse_null, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        variants = [v for v in json_schema.get("anyOf", []) if v != {"type": "null"}]
        if len(variants) == 1:
            rest = {k: v for k, v in json_schema.items() if k != "anyOf"}
            return {**variants[0], **rest}
        return json_schema


NotNull = Annotated[T | None, _NotNullMarker()]

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
