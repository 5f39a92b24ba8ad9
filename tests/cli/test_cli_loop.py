"""The whole loop through the real `spectral` CLI on a real server (embedded and production):
log in, keys, agents, scan start --watch to the end, change sets reviewed and accepted, and the
agent's runtime config following; every `--json` output parsed."""

from __future__ import annotations

import stat

import pytest

from cli.conftest import Cli, Server, seed
from spectral_cli.demo.seeding import DEMO_PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


def test_login_scan_watch_accept_and_config(cli: Cli, server: Server) -> None:
    seeded = seed(server)
    workspace_id = seeded.ws.rsplit("/", 1)[1]

    login = cli("login", "--email", seeded.email, "--password", DEMO_PASSWORD, "--json").json()
    assert login["workspace_id"] == workspace_id
    profiles = cli.config_dir / "profiles.json"
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    assert [w["id"] for w in cli("workspaces", "--json").json()] == [workspace_id]

    key = cli("keys", "create", "support-bot", "--scope", "read:agents", "--json").json()
    assert key["key"].startswith("sk_")
    assert [k["id"] for k in cli("keys", "list", "--json").json()] == [key["key_id"]]

    agents = cli("agents", "list", "--json").json()
    assert [a["slug"] for a in agents] == ["support-agent"]
    assert cli("agents", "config", "support-agent", "--json").json()["version"] == 1
    assert [r["id"] for r in cli("rubrics", "list", "--json").json()] == [seeded.rubric_id]
    assert [o["id"] for o in cli("objectives", "list", "--json").json()] == [seeded.objective_id]

    watched = cli(
        "scan", "start", "--agent", "support-agent", "--rubric", seeded.rubric_id,
        "--objective", seeded.objective_id, "--seed", "3", "--watch", "--json",
    ).json()  # fmt: skip
    assert watched["status"] == "succeeded", watched
    assert watched["progress"] == 1.0
    assert watched["summary"]["n_changesets"] >= 1

    human = cli("scan", "show", watched["id"])
    assert human.code == 0
    assert "succeeded" in human.stdout
    assert "recommend" in human.stdout

    changesets = cli("changesets", "list", "--scan", watched["id"], "--json").json()
    assert len(changesets) == watched["summary"]["n_changesets"]
    best = next(cs for cs in changesets if cs["verdict"] == "recommend")
    diff = cli("changesets", "diff", best["id"], "--json").json()
    assert diff["diff"] == best["diff"]
    assert "+++ " in diff["unified"]
    assert "--- " in diff["unified"]
    assert any(line.startswith("+") and not line.startswith("+++") for line in diff["unified"].splitlines())

    report = cli("scan", "report", watched["id"], "--markdown")
    assert report.code == 0
    assert report.stdout.lstrip().startswith("#")

    accepted = cli("changesets", "accept", best["id"], "--json").json()
    assert accepted["status"] == "accepted"
    version = accepted["promoted_version_number"]
    assert version == 2
    # What the agent fetches at runtime, with its own API key, is the new version.
    as_agent = cli("--token", key["key"], "agents", "config", seeded.agent_id, "--json").json()
    assert as_agent["version"] == version
    assert as_agent == cli("agents", "config", "support-agent", "--json").json()
    assert [
        v["number"] for v in cli("agents", "versions", "support-agent", "--json").json() if v["active"]
    ] == [2]

    # A second accept is an invalid transition: exit 1, one line naming the status, nothing changed.
    again = cli("changesets", "accept", best["id"], "--json")
    assert again.code == 1
    assert again.stdout == ""
    assert len(again.stderr.strip().splitlines()) == 1
    assert "400" in again.stderr
    assert f"/changesets/{best['id']}/accept" in again.stderr
    assert cli("agents", "config", "support-agent", "--json").json()["version"] == version

    rolled_back = cli("changesets", "rollback", best["id"], "--json").json()
    assert rolled_back["status"] == "rolled_back"
    assert cli("agents", "config", "support-agent", "--json").json()["version"] == 1

    assert cli("keys", "revoke", key["key_id"], "--json").json() == {"id": key["key_id"], "revoked": True}
    revoked = cli("--token", key["key"], "agents", "config", seeded.agent_id)
    assert revoked.code == 4
    assert "401" in revoked.stderr
