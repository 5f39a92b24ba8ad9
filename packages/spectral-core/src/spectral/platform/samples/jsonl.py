"""JSONL import parsing: every line is checked, and every bad line is reported with its number."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from spectral.platform.samples.schemas import SampleItemCreate


def _problem(line: int, loc: list[str | int], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", line, *loc], "line": line, "msg": msg, "type": kind}


def parse_jsonl(body: bytes) -> tuple[list[SampleItemCreate], list[dict[str, Any]]]:
    """(items, problems). Blank lines are skipped; line numbers count from 1 as an editor shows them."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [
            {"loc": ["body"], "line": None, "msg": f"not UTF-8 text: {exc.reason}", "type": "unicode_error"}
        ]
    items: list[SampleItemCreate] = []
    problems: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(
                _problem(number, [], f"invalid JSON: {exc.msg} at column {exc.colno}", "json_invalid")
            )
            continue
        except RecursionError:
            problems.append(_problem(number, [], "invalid JSON: nested too deep to read", "json_invalid"))
            continue
        if not isinstance(value, dict):
            problems.append(_problem(number, [], "each line must be a JSON object", "object_type"))
            continue
        try:
            items.append(SampleItemCreate.model_validate(value))
        except ValidationError as exc:
            problems.extend(
                _problem(number, list(err["loc"]), err["msg"], err["type"]) for err in exc.errors()
            )
    return items, problems
