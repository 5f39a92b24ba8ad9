"""`spectral`: Spectral from the command line, over its HTTP API only."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from spectral_cli.commands import account
from spectral_cli.commands.agents import agents_app
from spectral_cli.commands.changesets import changesets_app
from spectral_cli.commands.demo import demo
from spectral_cli.commands.evaluations import objectives_app, rubrics_app, samples_app
from spectral_cli.commands.scans import scan_app
from spectral_cli.commands.traces import traces_app
from spectral_cli.context import err, make_ctx
from spectral_cli.errors import CliError
from spectral_cli.profiles import DEFAULT_PROFILE

app = typer.Typer(
    name="spectral",
    help="Spectral from the command line, over its HTTP API only.",
    epilog=(
        "Exit codes: 0 ok; 1 the API refused the request (4xx) or rejected data; 2 usage or unreadable "
        "local input; 3 server error (5xx) or unreachable; 4 not logged in, token expired or missing a "
        "scope (401/403); 5 a watched scan ended failed or cancelled."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        str, typer.Option("--profile", "-p", envvar="SPECTRAL_PROFILE", help="Which stored login to use.")
    ] = DEFAULT_PROFILE,
    server: Annotated[
        str | None,
        typer.Option(
            envvar="SPECTRAL_SERVER",
            help="The API's base URL (default: the profile's, else http://127.0.0.1:8000).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SPECTRAL_TOKEN", help="A token or API key instead of the profile's.", show_default=False
        ),
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace", "-w", envvar="SPECTRAL_WORKSPACE", help="Workspace id (default: the profile's)."
        ),
    ] = None,
) -> None:
    ctx.obj = make_ctx(profile, server, token, workspace)


app.command()(account.login)
app.command()(account.register)
app.command()(account.logout)
app.add_typer(account.workspaces_app, name="workspaces")
app.add_typer(account.keys_app, name="keys")
app.add_typer(agents_app, name="agents")
app.add_typer(traces_app, name="traces")
app.add_typer(rubrics_app, name="rubrics")
app.add_typer(objectives_app, name="objectives")
app.add_typer(samples_app, name="samples")
app.add_typer(scan_app, name="scan")
app.add_typer(changesets_app, name="changesets")
app.command()(demo)


def run() -> None:
    """The console script: usage errors exit 2 (Typer's standalone mode); any other failure is
    one clear line on stderr and a documented exit code."""
    try:
        app()
    except CliError as exc:
        err.print(f"[red]error:[/] {escape(exc.message)}", soft_wrap=True)
        sys.exit(exc.code)
