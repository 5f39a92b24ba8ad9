"""Agents and their config versions."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.syntax import Syntax

from spectral_cli.context import JsonOpt, emit, out, read_json_file, resolve_agent, results_of, state, table

agents_app = typer.Typer(
    help="Agents, their config versions and what they fetch at runtime.", no_args_is_help=True
)


def _config_view(config: dict[str, Any]) -> None:
    out.print(Syntax(json.dumps(config, indent=2), "json", theme="ansi_dark", word_wrap=True))


@agents_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Display name.")],
    slug: Annotated[str, typer.Option(help="What the agent's traces name it by (service.name).")],
    config: Annotated[
        str | None, typer.Option(help="A JSON file with the first config: model, params, templates, tools.")
    ] = None,
    replay_url: Annotated[
        str | None, typer.Option(help="The agent's replay endpoint (docs/scans.md).")
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an agent; a --config becomes version 1, active at once."""
    c = state(ctx)
    body: dict[str, Any] = {"name": name, "slug": slug}
    if description:
        body["description"] = description
    if replay_url:
        body["replay_url"] = replay_url
    if config:
        body["config"] = read_json_file(config)
    agent = c.client.post(f"{c.ws()}/agents", body)
    emit(agent, as_json, lambda: out.print(f"created agent {agent['slug']} ({agent['id']})"))


@agents_app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The workspace's agents."""
    c = state(ctx)
    rows = results_of(c.client.get(f"{c.ws()}/agents", params={"limit": 200}))
    emit(
        rows,
        as_json,
        lambda: out.print(
            table(
                None,
                ["id", "slug", "name", "active version", "replay"],
                [
                    (
                        a["id"],
                        a["slug"],
                        a["name"],
                        a.get("active_version"),
                        "yes" if a.get("replay_url") else "-",
                    )
                    for a in rows
                ],
            )
        ),
    )


@agents_app.command("show")
def show(
    ctx: typer.Context, agent: Annotated[str, typer.Argument(help="Id or slug.")], as_json: JsonOpt = False
) -> None:
    """One agent."""
    c = state(ctx)
    data = c.client.get(f"{c.ws()}/agents/{resolve_agent(c, agent)}")
    emit(data, as_json, lambda: _config_view(data))


@agents_app.command("config")
def config(
    ctx: typer.Context, agent: Annotated[str, typer.Argument(help="Id or slug.")], as_json: JsonOpt = False
) -> None:
    """The active config: what the agent fetches at runtime."""
    c = state(ctx)
    data = c.client.get(f"{c.ws()}/agents/{resolve_agent(c, agent)}/config")

    def render() -> None:
        out.print(f"[bold]version {data.get('version')}[/]")
        _config_view(data)

    emit(data, as_json, render)


@agents_app.command("versions")
def versions(
    ctx: typer.Context, agent: Annotated[str, typer.Argument(help="Id or slug.")], as_json: JsonOpt = False
) -> None:
    """The agent's config versions, newest first."""
    c = state(ctx)
    rows = results_of(
        c.client.get(f"{c.ws()}/agents/{resolve_agent(c, agent)}/versions", params={"limit": 200})
    )
    emit(
        rows,
        as_json,
        lambda: out.print(
            table(
                None,
                ["version", "active", "model", "note", "created"],
                [
                    (
                        v["number"],
                        "*" if v.get("active") else "",
                        v["config"].get("model"),
                        v.get("note"),
                        v.get("created_at"),
                    )
                    for v in rows
                ],
            )
        ),
    )


@agents_app.command("promote")
def promote(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="Id or slug.")],
    version: int,
    as_json: JsonOpt = False,
) -> None:
    """Make VERSION the active config (promoting an old version is the rollback)."""
    c = state(ctx)
    data = c.client.post(f"{c.ws()}/agents/{resolve_agent(c, agent)}/versions/{version}/promote")
    emit(data, as_json, lambda: out.print(f"version {version} is active"))
