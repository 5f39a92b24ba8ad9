"""A change set's diff as a unified diff of the agent's config: model, params and template texts."""

from __future__ import annotations

import difflib
import json
from typing import Any

from rich.text import Text


def _lines(value: Any, *, text: bool) -> list[str]:
    if value is None:
        return []
    if text and isinstance(value, str):
        return value.splitlines()
    return [json.dumps(value, sort_keys=True)]


def unified_diff(changeset: dict[str, Any]) -> list[str]:
    """One hunk per change: `model`, `params.<name>` or `templates.<name>`, before -> after."""
    base = changeset.get("base_version_number")
    old_label = f"v{base}" if base is not None else "active"
    lines: list[str] = []
    for change in changeset.get("diff") or []:
        kind, key = change.get("kind"), change.get("key")
        if kind == "set_model":
            name, text = "model", False
        elif kind == "set_param":
            name, text = f"params.{key}", False
        else:
            name, text = f"templates.{key}", True
        lines.extend(
            difflib.unified_diff(
                _lines(change.get("before"), text=text),
                _lines(change.get("after"), text=text),
                fromfile=f"{name} ({old_label})",
                tofile=f"{name} (candidate)",
                lineterm="",
            )
        )
    return lines


def coloured(lines: list[str]) -> Text:
    result = Text()
    for line in lines:
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        result.append(line + "\n", style=style)
    return result
