"""Template slots: `{{identifier}}` only; rendering refuses missing variables."""

from __future__ import annotations

import pytest

from spectral.platform.agents.templating import MissingVariablesError, declared_variables, render


def test_declared_variables_in_order_without_duplicates() -> None:
    text = '{{a}} and {{ b }} then {{a}}; JSON {"x": {{c}}} but not {{ 1x }} or {{}} or {single}'
    assert declared_variables(text) == ["a", "b", "c"]


def test_render_fills_every_slot_and_leaves_other_braces() -> None:
    assert render("Hi {{name}}, {{ name }}! {not_a_slot}", {"name": "Ada"}) == "Hi Ada, Ada! {not_a_slot}"


def test_render_names_each_missing_variable() -> None:
    with pytest.raises(MissingVariablesError) as exc:
        render("{{a}} {{b}} {{c}}", {"b": "x"})
    assert exc.value.missing == ["a", "c"]


def test_values_are_not_re_expanded() -> None:
    assert render("{{a}}", {"a": "{{b}}"}) == "{{b}}"
