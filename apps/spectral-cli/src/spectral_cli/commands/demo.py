"""`spectral demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spectral_cli.client import Client
from spectral_cli.commands.scans import print_summary
from spectral_cli.context import JsonOpt, make_ctx, out, print_json, results_of
from spectral_cli.demo.runner import seed, start_servers
from spectral_cli.demo.seeding import DEMO_PASSWORD
from spectral_cli.errors import CliError, ExitCode
from spectral_cli.profiles import Profile, save_profile
from spectral_cli.watch import watch_scan


def demo(
    traces: Annotated[int, typer.Option(min=100, max=20_000, help="How many traces to generate.")] = 1200,
    seed_: Annotated[int, typer.Option("--seed", help="The generator's and the scan's seed.")] = 7,
    port: Annotated[int, typer.Option(help="The API's port (another free one if taken).")] = 8001,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the server keeps its data (default: a new temporary directory)."),
    ] = None,
    profile: Annotated[
        str, typer.Option("--save-profile", help="The profile to log the demo user in as.")
    ] = "demo",
    keep_running: Annotated[
        bool, typer.Option(help="Leave the server up to explore (Ctrl-C stops it).")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Start a local server and the demo agent, seed a workspace with planted failures, run a scan
    with a progress bar, print the change sets, and leave the server running for you."""
    servers = start_servers(seed_, port, data_dir)
    try:
        if not as_json:
            out.print(
                f"server {servers.api_url} (data in {servers.data_dir}); demo agent {servers.replay_url}"
            )
        seeded = seed(servers, seed_, traces, quiet=as_json)
        token = seeded.headers["Authorization"].removeprefix("Bearer ")
        workspace_id = seeded.ws.rsplit("/", 1)[1]
        save_profile(
            profile,
            Profile(server=servers.api_url, token=token, workspace_id=workspace_id, email=seeded.email),
        )
        c = make_ctx(profile, None, None, None)
        client = Client(servers.api_url, token)
        scan = client.post(
            f"{c.ws()}/scans",
            {
                "agent_id": seeded.agent_id,
                "rubric_id": seeded.rubric_id,
                "objective_id": seeded.objective_id,
                "seed": seed_,
            },
        )
        if not as_json:
            out.print(f"scan {scan['id']} queued")
        scan = watch_scan(client, c.ws(), str(scan["id"]), quiet=as_json)
        if as_json:
            changesets = results_of(
                client.get(f"{c.ws()}/changesets", params={"scan_id": scan["id"], "limit": 200})
            )
            print_json(
                {
                    "server": servers.api_url,
                    "profile": profile,
                    "email": seeded.email,
                    "password": DEMO_PASSWORD,
                    "workspace_id": workspace_id,
                    "agent_id": seeded.agent_id,
                    "scan": scan,
                    "changesets": changesets,
                }
            )
        else:
            print_summary(c, scan)
        if scan["status"] != "succeeded":
            raise CliError(f"the demo scan ended {scan['status']}: {scan.get('error')}", ExitCode.SCAN_FAILED)
        if keep_running:
            out.print(
                f"\nThe server stays up at {servers.api_url} (API docs: {servers.api_url}/docs).\n"
                f"Log in as {seeded.email} / {DEMO_PASSWORD!r}, or use the saved profile:\n"
                f"  spectral --profile {profile} changesets list --scan {scan['id']}\n"
                f"  spectral --profile {profile} agents config support-agent\n"
                "Press Ctrl-C to stop it.",
                soft_wrap=True,
            )
            servers.wait()
    finally:
        servers.stop()
