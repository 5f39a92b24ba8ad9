"""Bounds on what one span may store, checked at ingest so that every read of it succeeds.

A span whose JSON (attribute values, event and link attributes, messages, resource attributes)
nests deeper than `MAX_VALUE_DEPTH` arrays/maps, holds more than `MAX_SPAN_VALUES` values or more
than `MAX_SPAN_TEXT` characters of text is rejected as a whole, with the reason (OTLP: counted in
partialSuccess; native JSON: in the result's `errors`). Nothing is truncated: a span is stored as
sent or not at all. See docs/security.md ("Stored data bounds").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from spectral.platform.traces.errors import SpanRejected

# Arrays/maps an attribute value may nest (a flat string is depth 0; {"a": [1]} is depth 2).
# Instrumentations nest a handful of levels (message parts, tool arguments); 16 leaves ample room.
MAX_VALUE_DEPTH = 16
MAX_SPAN_VALUES = 50_000
MAX_SPAN_TEXT = 4 * 1024 * 1024

# How deep each stored column nests around its values: attributes are a map of values; events and
# links are a list of objects holding a map of attributes; a message's tool call arguments sit in
# messages[i].tool_calls[j].arguments.
_ENVELOPE = {"attributes": 1, "resource_attributes": 1, "events": 3, "links": 3, "messages": 4}


def check_depth(depth: int) -> None:
    """For decoders that build values level by level: stop before going past the bound."""
    if depth > MAX_VALUE_DEPTH:
        raise SpanRejected(f"an attribute value nests deeper than {MAX_VALUE_DEPTH} arrays/maps")


@dataclass(slots=True)
class _Budget:
    span_id: str
    values: int = 0
    text: int = 0

    def spend(self, values: int, text: int) -> None:
        self.values += values
        self.text += text
        if self.values > MAX_SPAN_VALUES:
            raise SpanRejected(f"span {self.span_id} holds more than {MAX_SPAN_VALUES} attribute values")
        if self.text > MAX_SPAN_TEXT:
            raise SpanRejected(f"span {self.span_id} holds more than {MAX_SPAN_TEXT} characters of text")


_CONTAINERS = (dict, list)


def _walk(value: Any, column: str, budget: _Budget) -> None:
    """Depth, value count and text of one column, without recursion (any depth is safe to walk)."""
    limit = MAX_VALUE_DEPTH + _ENVELOPE[column]
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > limit:
            raise SpanRejected(
                f"span {budget.span_id}: {column} nest deeper than {MAX_VALUE_DEPTH} levels of arrays/maps"
            )
        items: Iterable[Any]
        if isinstance(container, dict):
            text = sum(map(len, container))
            items = container.values()
        else:
            text = 0
            items = container
        for item in items:
            if isinstance(item, str):
                text += len(item)
            elif isinstance(item, _CONTAINERS):
                stack.append((item, depth + 1))
        budget.spend(len(container), text)


def check_resource_bounds(attributes: dict[str, Any]) -> None:
    """Resource attributes are shared by the spans of one ResourceSpans: checked once for all."""
    _walk(attributes, "resource_attributes", _Budget("of this resource"))


def _surely_within(columns: Sequence[tuple[str, Any, str | None]], text: int) -> bool:
    """True when the columns' JSON proves the span within every bound without walking it. Each
    value (a map entry takes at least `"":x`, a list item a character) and each character of text
    takes at least one character of its JSON, and each array or map one bracket: JSON lengths bound
    the value count and the text, bracket counts the depth. Only ever true where the walk passes."""
    length = text
    for column, _, json in columns:
        if json is not None:
            length += len(json)
            if json.count("[") + json.count("{") > MAX_VALUE_DEPTH + _ENVELOPE[column]:
                return False
    return length <= MAX_SPAN_VALUES and length <= MAX_SPAN_TEXT


def check_span_bounds(
    span_id: str, *, columns: Sequence[tuple[str, Any, str | None]], texts: Iterable[str | None]
) -> None:
    """`columns`: (column, its value, that value as JSON with every character of its strings kept).
    Nearly every span is within the bounds by far; its JSON (made for storage anyway) shows it, and
    only the others are walked."""
    text = 0
    for item in texts:
        if item:
            text += len(item)
    if _surely_within(columns, text):
        return
    budget = _Budget(span_id)
    budget.spend(0, text)
    for column, value, _ in columns:
        if value:
            _walk(value, column, budget)
