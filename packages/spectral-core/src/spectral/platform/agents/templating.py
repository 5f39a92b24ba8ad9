"""Managed template texts: `{{variable}}` slots, declared by appearing in the text.

Only `{{identifier}}` (spaces inside the braces allowed) is a slot; any other brace sequence is
literal text, so prompts that show JSON or other template languages stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SLOT_PATTERN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

# The longest text a render may produce (a span stores no more text than this either). A template
# may repeat a slot thousands of times, so without it a small request asked for gigabytes: 20,000
# `{{a}}` filled with 200 KB each is 4 GB.
MAX_RENDERED_CHARS = 4 * 1024 * 1024


class TemplateRenderError(ValueError):
    """Why a template cannot be rendered with the variables given."""


class MissingVariablesError(TemplateRenderError):
    def __init__(self, missing: list[str]) -> None:
        super().__init__("missing variables: " + ", ".join(missing))
        self.missing = missing


class RenderedTooLongError(TemplateRenderError):
    def __init__(self, length: int) -> None:
        super().__init__(
            f"the rendered text would be {length:,} characters, over the limit of {MAX_RENDERED_CHARS:,}"
        )
        self.length = length


def declared_variables(text: str) -> list[str]:
    """The variables a template declares, in order of first appearance."""
    return list(dict.fromkeys(match.group(1) for match in SLOT_PATTERN.finditer(text)))


def render(text: str, variables: Mapping[str, str]) -> str:
    """Fill every slot; raises `MissingVariablesError` naming each declared variable not given,
    and `RenderedTooLongError` before building a text longer than `MAX_RENDERED_CHARS`."""
    missing = [name for name in declared_variables(text) if name not in variables]
    if missing:
        raise MissingVariablesError(missing)
    length = len(text) + sum(
        len(variables[slot.group(1)]) - (slot.end() - slot.start()) for slot in SLOT_PATTERN.finditer(text)
    )
    if length > MAX_RENDERED_CHARS:
        raise RenderedTooLongError(length)
    return SLOT_PATTERN.sub(lambda match: variables[match.group(1)], text)
