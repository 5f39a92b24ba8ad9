"""Reading a traces file into the requests that send it: OTLP/JSON (`{"resourceSpans": [...]}`),
native JSON (`{"resource": {...}, "spans": [...]}` or a list of spans) or JSONL (one span, one
native batch or one OTLP request per line). Each request is a small batch, so a progress bar can
follow and no request approaches the server's body limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from spectral_cli.errors import CliError, ExitCode

OTLP_PATH = "/otel/v1/traces"


@dataclass(frozen=True, slots=True)
class Batch:
    kind: Literal["otlp", "native"]
    body: dict[str, Any]
    n_spans: int


def _otlp_batches(request: dict[str, Any], batch_size: int) -> Iterator[Batch]:
    """One request per chunk of spans, keeping each resource and scope around its spans."""
    for resource_spans in request.get("resourceSpans") or []:
        for scope_spans in resource_spans.get("scopeSpans") or []:
            spans = scope_spans.get("spans") or []
            for start in range(0, len(spans), batch_size):
                chunk = spans[start : start + batch_size]
                body = {
                    "resourceSpans": [
                        {
                            **{k: v for k, v in resource_spans.items() if k != "scopeSpans"},
                            "scopeSpans": [
                                {**{k: v for k, v in scope_spans.items() if k != "spans"}, "spans": chunk}
                            ],
                        }
                    ]
                }
                yield Batch("otlp", body, len(chunk))


def _native_batches(resource: dict[str, Any], spans: list[Any], batch_size: int) -> Iterator[Batch]:
    for start in range(0, len(spans), batch_size):
        chunk = spans[start : start + batch_size]
        body: dict[str, Any] = {"spans": chunk}
        if resource:
            body["resource"] = resource
        yield Batch("native", body, len(chunk))


def _document_batches(document: Any, batch_size: int, where: str) -> Iterator[Batch]:
    if isinstance(document, list):
        yield from _native_batches({}, document, batch_size)
    elif isinstance(document, dict) and "resourceSpans" in document:
        yield from _otlp_batches(document, batch_size)
    elif isinstance(document, dict) and isinstance(document.get("spans"), list):
        yield from _native_batches(document.get("resource") or {}, document["spans"], batch_size)
    elif isinstance(document, dict):
        # One span: a JSONL file of one line is also one JSON document.
        yield from _native_batches({}, [document], batch_size)
    else:
        raise CliError(
            f"{where}: neither OTLP/JSON (resourceSpans), a native batch (spans), a list of spans nor a span",
            ExitCode.USAGE,
        )


def read_batches(path: Path, batch_size: int) -> list[Batch]:
    """Every request the file makes, read and checked before any is sent: a file with a bad
    line sends nothing."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", ExitCode.USAGE) from exc
    try:
        return list(_document_batches(json.loads(text), batch_size, str(path)))
    except json.JSONDecodeError:
        pass  # not one document: JSONL
    batches: list[Batch] = []
    loose_spans: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path}:{number}: not JSON: {exc.msg}", ExitCode.USAGE) from exc
        if isinstance(item, dict) and ("resourceSpans" in item or "spans" in item):
            batches.extend(_document_batches(item, batch_size, f"{path}:{number}"))
        elif isinstance(item, dict):
            loose_spans.append(item)
        else:
            raise CliError(f"{path}:{number}: a line must be a JSON object", ExitCode.USAGE)
    batches.extend(_native_batches({}, loose_spans, batch_size))
    if not batches:
        raise CliError(f"{path}: no spans", ExitCode.USAGE)
    return batches
