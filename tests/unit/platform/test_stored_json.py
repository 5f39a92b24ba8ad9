"""Stored JSON reads at any depth: deeper than the bound is clamped to a marker, brackets and
escaped quotes inside strings are text, and everything shallower reads exactly as the standard
parser reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spectral.platform.shared.stored_json import (
    MAX_STORED_DEPTH,
    TRUNCATED_MARKER,
    load_stored_json,
    nests_deeper_than,
)

TRICKY = 'a "quoted" ] } [ { \\ text'


def nested(depth: int) -> Any:
    value: Any = TRICKY
    for index in range(depth):
        value = {"k]": value, "n": [1, "{"]} if index % 2 else [value, "]"]
    return value


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize("depth", [0, 1, 10, MAX_STORED_DEPTH - 1, MAX_STORED_DEPTH])
def test_values_within_the_bound_read_exactly(depth: int) -> None:
    value = nested(depth)
    text = json.dumps(value)
    assert not nests_deeper_than(text)
    assert load_stored_json(text) == value
    assert load_stored_json(text.encode()) == value


@pytest.mark.parametrize("depth", [MAX_STORED_DEPTH + 1, 300])
def test_deeper_values_are_clamped_to_the_marker(depth: int) -> None:
    text = json.dumps(nested(depth))
    assert nests_deeper_than(text)
    loaded = load_stored_json(text.encode())
    assert depth_of(loaded) == MAX_STORED_DEPTH
    assert TRUNCATED_MARKER in json.dumps(loaded)
    assert TRICKY not in json.dumps(loaded)  # the leaf sat below the cut


def test_far_deeper_than_any_parser_allows() -> None:
    text = '{"a": "]", "b": ' + '{"k": [' * 10_000 + '"x"' + "]}" * 10_000 + ', "c": "{"}'
    with pytest.raises(RecursionError):
        json.loads(text)
    loaded = load_stored_json(text)
    assert (loaded["a"], loaded["c"]) == ("]", "{")
    assert depth_of(loaded) == MAX_STORED_DEPTH


def test_wide_but_shallow_values_are_untouched() -> None:
    value = {"events": [{"name": "e", "attributes": {"k": ["[", "{"]}} for _ in range(500)]}
    text = json.dumps(value)
    assert not nests_deeper_than(text)
    assert load_stored_json(text) == value


@pytest.mark.parametrize("number", [0.5, 3, 0])
def test_numbers_sqlite_already_converted_pass_through(number: float) -> None:
    assert load_stored_json(number) == number
