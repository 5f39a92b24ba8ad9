"""Managed template texts: `{{variable}}` slots, declared by appearing in the text.

Only `{{identifier}}` (spaces inside the braces allowed) is a slot; any other brace sequence is
literal text, so prompts that show JSON or other template languages stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SLOT_PATTERN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class MissingVariablesError(ValueError):
    def __init__(self, missing: list[str]) -> None:
        super().__init__("missing variables: " + ", ".join(missing))
        self.missing = missing


def declared_variables(text: str) -> list[str]:
    """The variables a template declares, in order of first appearance."""
    return list(dict.fromkeys(match.group(1) for match in SLOT_PATTERN.finditer(text)))


def render(text: str, variables: Mapping[str, str]) -> str:
    """Fill every slot; raises `MissingVariablesError` naming each declared variable not given."""
    missing = [name for name in declared_variables(text) if name not in variables]
    if missing:
        raise MissingVariablesError(missing)
    return SLOT_PATTERN.sub(lambda match: variables[match.group(1)], text)
