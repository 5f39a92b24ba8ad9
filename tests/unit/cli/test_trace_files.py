"""Reading a traces file for `spectral traces send`: every documented shape becomes requests, and a
file that is none of them is refused before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spectral_cli.errors import CliError, ExitCode
from spectral_cli.trace_files import read_batches

SPAN = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "name": "chat gpt-4o",
    "start_time": "2026-11-28T12:05:00Z",
    "end_time": "2026-11-28T12:05:02Z",
}


@pytest.mark.parametrize("text", [json.dumps(SPAN) + "\n", json.dumps(SPAN, indent=2)])
def test_a_file_of_one_span_is_one_request(tmp_path: Path, text: str) -> None:
    # A JSONL file of one line is also one JSON document: it is still a span, not a bad file.
    path = tmp_path / "spans.jsonl"
    path.write_text(text)
    [batch] = read_batches(path, batch_size=200)
    assert (batch.kind, batch.body, batch.n_spans) == ("native", {"spans": [SPAN]}, 1)


def test_jsonl_lines_are_batched(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(json.dumps(SPAN | {"span_id": f"{i:016x}"}) + "\n" for i in range(5)))
    assert [b.n_spans for b in read_batches(path, batch_size=2)] == [2, 2, 1]


@pytest.mark.parametrize("text", ["42", '"a span"', "[1, 2]\n[3]\n"])
def test_a_file_that_holds_no_spans_is_a_usage_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "spans.json"
    path.write_text(text)
    with pytest.raises(CliError) as refused:
        read_batches(path, batch_size=200)
    assert refused.value.code == ExitCode.USAGE
    assert str(path) in str(refused.value)
