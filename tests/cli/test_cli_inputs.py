"""The CLI's edges on a real embedded server: exit codes and one-line problems, registering with a
short password, `traces send` in its three formats (and a bad file sending nothing), and the
profile file's permissions."""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path

import pytest

from cli.conftest import Cli
from processes import free_port
from spectral_cli.demo.workspace import demo_workspace

pytestmark = pytest.mark.e2e
embedded = pytest.mark.parametrize("server", ["embedded"], indirect=True)

AGENT_CONFIG = {
    "model": "gpt-4o",
    "params": {"temperature": 0.2},
    "templates": {"system": "You are Acme support."},
}


def register(cli: Cli, email: str) -> str:
    registered = cli(
        "register", "--email", email, "--tenant", "Acme", "--password", "correct horse", "--json"
    )
    workspace_id: str = registered.json()["workspace_id"]
    return workspace_id


@embedded
def test_exit_codes_and_problems_in_one_line(cli: Cli, tmp_path: Path) -> None:
    not_logged_in = cli("agents", "list")
    assert not_logged_in.code == 4
    assert "spectral login" in not_logged_in.stderr

    short = cli("register", "--email", "ada@example.com", "--tenant", "Acme", "--password", "devpass")
    assert short.code == 1
    assert short.stderr.count("\n") == 1
    assert "422" in short.stderr
    assert "password" in short.stderr
    assert "at least 8 characters" in short.stderr
    assert not (cli.config_dir / "profiles.json").exists()

    register(cli, "ada@example.com")
    assert stat.S_IMODE((cli.config_dir / "profiles.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config_dir.stat().st_mode) == 0o700

    wrong = cli("login", "--email", "ada@example.com", "--password", "not the password")
    assert wrong.code == 4
    assert "401" in wrong.stderr
    assert "run `spectral login` again" not in wrong.stderr  # a wrong password, not a login to renew

    missing = cli("changesets", "show", "00000000-0000-0000-0000-000000000000")
    assert missing.code == 1
    assert "404" in missing.stderr

    assert cli("scan", "start", "--agent", "x").code == 2  # usage: required options missing
    unreadable = cli(
        "agents", "create", "--name", "A", "--slug", "a", "--config", str(tmp_path / "nope.json")
    )
    assert unreadable.code == 2
    assert cli("agents", "list", "--json").json() == []

    down = cli("--server", f"http://127.0.0.1:{free_port()}", "agents", "list")
    assert down.code == 3
    assert "cannot reach" in down.stderr
    assert "is the server running (`make run`)? Point --server or SPECTRAL_SERVER at it" in down.stderr
    # The docs' curl URLs end in /api/v1: given as the server, it names the same server.
    assert cli("--server", f"{cli.server.api_url}/api/v1/", "agents", "list", "--json").json() == []
    host = cli.server.api_url.removeprefix("http://")
    no_scheme = cli("--server", host, "agents", "list")
    assert no_scheme.code == 2
    assert f"--server http://{host}" in no_scheme.stderr
    # A server without Spectral's routes (here the demo agent) is named as the likely mistake.
    elsewhere = cli("--server", cli.server.replay_url.removesuffix("/replay"), "agents", "list")
    assert elsewhere.code == 1
    assert "Spectral's API server? Point --server or SPECTRAL_SERVER at it" in elsewhere.stderr
    assert elsewhere.stderr.count("\n") == 1
    # An API key that no longer works is replaced by creating another, not by logging in.
    bad_key = cli("--token", "sk_live_" + "x" * 43, "agents", "list")
    assert bad_key.code == 4
    assert "create a new one" in bad_key.stderr
    assert "spectral login" not in bad_key.stderr

    # Sample sets: a JSONL import adds its lines; a file with a bad line is a 422 and imports nothing.
    sample_set = cli("samples", "create", "Regression", "--json").json()
    good = tmp_path / "samples.jsonl"
    good.write_text('{"input": "Where is order 4411?"}\n{"input": "Can I return a kettle?"}\n')
    assert cli("samples", "import", sample_set["id"], str(good), "--json").json() == {
        "lines": 2,
        "added": 2,
        "duplicates": 0,
    }
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "Cancel order 981"}\n{"expected_output": "no input"}\n')
    refused = cli("samples", "import", sample_set["id"], str(bad))
    assert refused.code == 1
    assert "422" in refused.stderr
    assert [s["item_count"] for s in cli("samples", "list", "--json").json()] == [2]

    # Logging out revokes the token on the server and forgets it here.
    assert cli("logout", "--json").json() == {"profile": "default", "logged_out": True}
    after = cli("agents", "list")
    assert after.code == 4
    assert "spectral login" in after.stderr


@embedded
def test_traces_send_otlp_native_and_jsonl(cli: Cli, tmp_path: Path) -> None:
    register(cli, "traces@example.com")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(AGENT_CONFIG))
    agent = cli(
        "agents", "create", "--name", "Support", "--slug", "support-agent", "--config", str(config), "--json"
    )
    assert agent.json()["slug"] == "support-agent"

    traces = demo_workspace(11, 30).synthetic.traces
    spans = [span for batch in demo_workspace(11, 30).span_batches(batch_size=10_000) for span in batch]
    by_trace: dict[str, list[dict[str, object]]] = {}
    for span in spans:
        by_trace.setdefault(str(span["trace_id"]), []).append(span)
    ids = [t.trace_id for t in traces]

    native = tmp_path / "native.json"
    native.write_text(
        json.dumps(
            {
                "resource": {"service.name": "support-agent"},
                "spans": [s for i in ids[:10] for s in by_trace[i]],
            }
        )
    )
    jsonl = tmp_path / "spans.jsonl"
    jsonl.write_text("".join(json.dumps(s) + "\n" for i in ids[10:20] for s in by_trace[i]))
    otlp = tmp_path / "otlp.json"
    otlp.write_text(json.dumps(otlp_request(ids[20:], by_trace)))

    sent = [
        cli("traces", "send", str(path), "--batch-size", "7", "--json").json()
        for path in (native, jsonl, otlp)
    ]
    assert [s["rejected"] for s in sent] == [0, 0, 0]
    assert sum(s["accepted"] for s in sent) == len(spans)
    assert sent[1]["requests"] > 1  # batched: a progress bar has something to follow
    listed = cli("traces", "list", "--agent", "support-agent", "--limit", "200", "--json").json()
    assert sorted(t["trace_id"] for t in listed["results"]) == sorted(ids)

    # A file with one bad line sends nothing.
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(spans[0]) + "\n{not json\n")
    refused = cli("traces", "send", str(bad))
    assert refused.code == 2
    assert "bad.jsonl:2" in refused.stderr
    assert cli("traces", "list", "--json").json()["pagination"]["total"] == len(ids)


def otlp_request(ids: list[str], by_trace: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    """The native spans of `ids` as one OTLP/JSON export request (hex ids, nanosecond strings)."""

    def value(v: object) -> dict[str, object]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        if isinstance(v, str):
            return {"stringValue": v}
        return {"stringValue": json.dumps(v)}

    def nanos(text: object) -> str:
        return str(int(datetime.fromisoformat(str(text)).timestamp() * 1_000_000_000))

    spans = []
    for trace_id in ids:
        for span in by_trace[trace_id]:
            attributes = span["attributes"]
            assert isinstance(attributes, dict)
            otlp_span: dict[str, object] = {
                "traceId": span["trace_id"],
                "spanId": span["span_id"],
                "name": span["name"],
                "startTimeUnixNano": nanos(span["start_time"]),
                "endTimeUnixNano": nanos(span["end_time"]),
                "status": {
                    "code": 2 if span["status"] == "error" else 1,
                    "message": span.get("status_message") or "",
                },
                "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
            }
            if span.get("parent_span_id"):
                otlp_span["parentSpanId"] = span["parent_span_id"]
            spans.append(otlp_span)
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "support-agent"}}]}
    return {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]
    }
