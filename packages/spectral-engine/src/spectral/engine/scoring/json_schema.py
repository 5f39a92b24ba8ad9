"""A practical subset of JSON Schema, enough for rubric checks on an agent's JSON answers.

Supported keywords: `type` (a name or a list of names), `enum`, `const`, `properties`, `required`,
`additionalProperties` (boolean), `items` (one schema), `minItems`/`maxItems`,
`minLength`/`maxLength`, `pattern`, `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`
(numbers, draft 6+), `anyOf`. Annotations (`title`, `description`, `$schema`, `$id`, `default`,
`examples`) are accepted and ignored. Any other keyword is rejected when the schema is checked, so a
rubric never silently skips a constraint it appears to enforce.

`check_schema` validates and compiles the schema once (regexes precompiled); `SchemaValidator.first_error`
then walks an instance and returns the first violation as `"<json pointer>: <message>"`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spectral.engine.errors import ScorerParamsError
from spectral.engine.scoring.params import Loc
from spectral.engine.scoring.patterns import UnsupportedPatternError, UserPattern, compile_user_pattern

# Deeper schemas are not written by hand; refusing them keeps compiling and checking bounded.
MAX_SCHEMA_DEPTH = 32

_TYPE_NAMES = ("object", "array", "string", "number", "integer", "boolean", "null")
_ANNOTATIONS = frozenset({"title", "description", "$schema", "$id", "default", "examples", "$comment"})
_NUMBER_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_COUNT_BOUNDS = ("minItems", "maxItems", "minLength", "maxLength")
_KNOWN = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "pattern",
        "anyOf",
        *_NUMBER_BOUNDS,
        *_COUNT_BOUNDS,
    }
)


@dataclass(frozen=True, slots=True)
class _Node:
    types: tuple[str, ...] | None
    enum: tuple[Any, ...] | None
    properties: Mapping[str, _Node]
    required: tuple[str, ...]
    additional_properties: bool
    items: _Node | None
    pattern: UserPattern | None
    any_of: tuple[_Node, ...]
    bounds: Mapping[str, float]


class SchemaValidator:
    def __init__(self, root: _Node) -> None:
        self._root = root

    def first_error(self, instance: Any) -> str | None:
        return _first_error(self._root, instance, "")


def check_schema(schema: Any, loc: Loc) -> SchemaValidator:
    """Validate a schema of the supported subset; raises `ScorerParamsError` pointing into it."""
    return SchemaValidator(_compile(schema, loc))


def _compile(schema: Any, loc: Loc, depth: int = 0) -> _Node:
    if depth > MAX_SCHEMA_DEPTH:
        raise ScorerParamsError(
            loc, f"schemas nested deeper than {MAX_SCHEMA_DEPTH} levels are not supported"
        )
    if not isinstance(schema, Mapping):
        raise ScorerParamsError(loc, "a schema must be an object")
    for keyword in schema:
        if keyword not in _KNOWN and keyword not in _ANNOTATIONS:
            raise ScorerParamsError((*loc, keyword), "unsupported JSON Schema keyword")

    types: tuple[str, ...] | None = None
    if "type" in schema:
        raw_type = schema["type"]
        types = (
            (raw_type,)
            if isinstance(raw_type, str)
            else tuple(raw_type)
            if isinstance(raw_type, list)
            else ()
        )
        if not types or any(name not in _TYPE_NAMES for name in types):
            raise ScorerParamsError(
                (*loc, "type"), f"must be one of {', '.join(_TYPE_NAMES)} (or a list of them)"
            )

    enum: tuple[Any, ...] | None = None
    if "enum" in schema:
        if not isinstance(schema["enum"], list) or not schema["enum"]:
            raise ScorerParamsError((*loc, "enum"), "must be a non-empty list")
        enum = tuple(schema["enum"])
    if "const" in schema:
        enum = (schema["const"],)

    properties: dict[str, _Node] = {}
    if "properties" in schema:
        if not isinstance(schema["properties"], Mapping):
            raise ScorerParamsError((*loc, "properties"), "must be an object")
        for name, sub in schema["properties"].items():
            properties[str(name)] = _compile(sub, (*loc, "properties", str(name)), depth + 1)

    required: tuple[str, ...] = ()
    if "required" in schema:
        raw_required = schema["required"]
        if not isinstance(raw_required, list) or not all(isinstance(item, str) for item in raw_required):
            raise ScorerParamsError((*loc, "required"), "must be a list of property names")
        required = tuple(raw_required)

    additional = schema.get("additionalProperties", True)
    if not isinstance(additional, bool):
        raise ScorerParamsError((*loc, "additionalProperties"), "only true or false is supported")

    items = _compile(schema["items"], (*loc, "items"), depth + 1) if "items" in schema else None

    pattern: UserPattern | None = None
    if "pattern" in schema:
        if not isinstance(schema["pattern"], str):
            raise ScorerParamsError((*loc, "pattern"), "must be a string")
        try:
            pattern = compile_user_pattern(schema["pattern"])
        except UnsupportedPatternError as exc:
            raise ScorerParamsError((*loc, "pattern"), str(exc)) from None

    any_of: tuple[_Node, ...] = ()
    if "anyOf" in schema:
        if not isinstance(schema["anyOf"], list) or not schema["anyOf"]:
            raise ScorerParamsError((*loc, "anyOf"), "must be a non-empty list of schemas")
        any_of = tuple(
            _compile(sub, (*loc, "anyOf", index), depth + 1) for index, sub in enumerate(schema["anyOf"])
        )

    bounds: dict[str, float] = {}
    for keyword in (*_NUMBER_BOUNDS, *_COUNT_BOUNDS):
        if keyword not in schema:
            continue
        value = schema[keyword]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ScorerParamsError((*loc, keyword), "must be a finite number")
        if keyword in _COUNT_BOUNDS and (value < 0 or value != int(value)):
            raise ScorerParamsError((*loc, keyword), "must be a non-negative integer")
        bounds[keyword] = float(value)

    return _Node(types, enum, properties, required, additional, items, pattern, any_of, bounds)


def _type_of(instance: Any) -> str:
    if instance is None:
        return "null"
    if isinstance(instance, bool):
        return "boolean"
    if isinstance(instance, int):
        return "integer"
    if isinstance(instance, float):
        return "integer" if instance.is_integer() else "number"
    if isinstance(instance, str):
        return "string"
    if isinstance(instance, list):
        return "array"
    return "object"


def _type_matches(actual: str, allowed: tuple[str, ...]) -> bool:
    return actual in allowed or (actual == "integer" and "number" in allowed)


def _first_error(node: _Node, instance: Any, pointer: str) -> str | None:
    where = pointer or "/"
    actual = _type_of(instance)
    if node.types is not None and not _type_matches(actual, node.types):
        return f"{where}: expected {' or '.join(node.types)}, got {actual}"
    if node.enum is not None and not any(_json_equal(instance, option) for option in node.enum):
        return f"{where}: {_preview(instance)} is not one of {', '.join(_preview(o) for o in node.enum)}"

    if actual == "object":
        for name in node.required:
            if name not in instance:
                return f"{where}: missing required property '{name}'"
        for name, value in instance.items():
            sub = node.properties.get(name)
            if sub is not None:
                error = _first_error(sub, value, f"{pointer}/{name}")
                if error:
                    return error
            elif not node.additional_properties:
                return f"{where}: unexpected property '{name}'"
    elif actual == "array":
        if "minItems" in node.bounds and len(instance) < node.bounds["minItems"]:
            return f"{where}: fewer than {node.bounds['minItems']:g} items"
        if "maxItems" in node.bounds and len(instance) > node.bounds["maxItems"]:
            return f"{where}: more than {node.bounds['maxItems']:g} items"
        if node.items is not None:
            for index, item in enumerate(instance):
                error = _first_error(node.items, item, f"{pointer}/{index}")
                if error:
                    return error
    elif actual == "string":
        if "minLength" in node.bounds and len(instance) < node.bounds["minLength"]:
            return f"{where}: shorter than {node.bounds['minLength']:g} characters"
        if "maxLength" in node.bounds and len(instance) > node.bounds["maxLength"]:
            return f"{where}: longer than {node.bounds['maxLength']:g} characters"
        if node.pattern is not None and node.pattern.search(instance) is None:
            return f"{where}: does not match pattern {node.pattern.pattern!r}"
    elif actual in ("integer", "number"):
        error = _number_error(node.bounds, float(instance), where)
        if error:
            return error

    if node.any_of and all(_first_error(sub, instance, pointer) for sub in node.any_of):
        return f"{where}: matches none of the anyOf schemas"
    return None


def _number_error(bounds: Mapping[str, float], value: float, where: str) -> str | None:
    if "minimum" in bounds and value < bounds["minimum"]:
        return f"{where}: {value:g} is below the minimum {bounds['minimum']:g}"
    if "maximum" in bounds and value > bounds["maximum"]:
        return f"{where}: {value:g} is above the maximum {bounds['maximum']:g}"
    if "exclusiveMinimum" in bounds and value <= bounds["exclusiveMinimum"]:
        return f"{where}: {value:g} is not above {bounds['exclusiveMinimum']:g}"
    if "exclusiveMaximum" in bounds and value >= bounds["exclusiveMaximum"]:
        return f"{where}: {value:g} is not below {bounds['exclusiveMaximum']:g}"
    return None


def _json_equal(left: Any, right: Any) -> bool:
    # JSON equality: true is not 1, although Python says True == 1.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return bool(left == right)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
