"""Template slots: `{{identifier}}` only; rendering refuses missing variables and a text too long."""

from __future__ import annotations

import pytest

from spectral.engine.types import AgentConfig
from spectral.platform.agents.templating import (
    MAX_RENDERED_CHARS,
    MissingVariablesError,
    RenderedTooLongError,
    declared_variables,
    render,
)
from spectral.platform.changesets.replay import render_user_prompt


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


def test_a_text_longer_than_the_limit_is_refused_before_it_is_built() -> None:
    """The reported case: one slot repeated 20,000 times (a 100 KB template) turned a 10 KB
    variable into a 200 MB text; with 200 KB it would have been 4 GB."""
    with pytest.raises(RenderedTooLongError) as exc:
        render("{{a}}" * 20_000, {"a": "x" * 300})
    assert exc.value.length == 6_000_000
    assert "over the limit of 4,194,304" in str(exc.value)
    assert len(render("{{a}}", {"a": "x" * MAX_RENDERED_CHARS})) == MAX_RENDERED_CHARS
    assert len(render("ab{{a}}", {"a": "x" * (MAX_RENDERED_CHARS - 2)})) == MAX_RENDERED_CHARS
    with pytest.raises(RenderedTooLongError):
        render("ab{{a}}", {"a": "x" * (MAX_RENDERED_CHARS - 1)})


def test_a_replay_prompt_is_held_to_the_same_limit() -> None:
    config = AgentConfig.from_dict({"model": "m", "templates": {"user": "Q: {{q}} " * 20_000}})
    with pytest.raises(RenderedTooLongError):
        render_user_prompt(config, "x" * 300)
