"""Change sets: review, diff, and the accept -> apply -> rollback lifecycle."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from spectral_cli.commands.scans import changeset_rows
from spectral_cli.context import JsonOpt, emit, out, resolve_agent, results_of, state, table
from spectral_cli.diffs import coloured, unified_diff

changesets_app = typer.Typer(help="Change sets proposed by scans.", no_args_is_help=True)


@changesets_app.command("list")
def list_(
    ctx: typer.Context,
    scan: Annotated[str | None, typer.Option(help="Scan id.")] = None,
    agent: Annotated[str | None, typer.Option(help="Agent id or slug.")] = None,
    status: Annotated[
        str | None, typer.Option(help="proposed, accepted, applied, rejected, rolled_back.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change sets, with their verdict and validated gain."""
    c = state(ctx)
    params = {
        "scan_id": scan,
        "agent_id": resolve_agent(c, agent) if agent else None,
        "status": status,
        "limit": 200,
    }
    rows = results_of(c.client.get(f"{c.ws()}/changesets", params=params))
    emit(
        rows,
        as_json,
        lambda: out.print(
            table(None, ["id", "verdict", "status", "holdout gain [CI]", "title"], changeset_rows(rows))
        ),
    )


@changesets_app.command("show")
def show(ctx: typer.Context, changeset_id: str, as_json: JsonOpt = False) -> None:
    """One change set: rationale, clusters, validation, and its diff."""
    c = state(ctx)
    cs = c.client.get(f"{c.ws()}/changesets/{changeset_id}")

    def render() -> None:
        out.print(f"[bold]{cs['title']}[/]  {cs['verdict']} · {cs['status']} · {cs['strategy']}")
        out.print(cs.get("rationale") or "")
        for cluster in cs.get("clusters") or []:
            out.print(f"  addresses: {cluster.get('label')}")
        validation: dict[str, Any] = cs.get("validation") or {}
        if validation:
            shown = {k: v for k, v in validation.items() if isinstance(v, int | float | str | bool)}
            out.print("  validation: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        out.print(coloured(unified_diff(cs)))

    emit(cs, as_json, render)


@changesets_app.command("diff")
def diff(ctx: typer.Context, changeset_id: str, as_json: JsonOpt = False) -> None:
    """The change set's diff of prompts and params, as a coloured unified diff."""
    c = state(ctx)
    cs = c.client.get(f"{c.ws()}/changesets/{changeset_id}")
    lines = unified_diff(cs)
    emit(
        {"id": cs["id"], "diff": cs["diff"], "unified": "\n".join(lines)},
        as_json,
        lambda: out.print(coloured(lines), end=""),
    )


def _transition(ctx: typer.Context, changeset_id: str, action: str, as_json: bool, body: Any = None) -> None:
    c = state(ctx)
    cs = c.client.post(f"{c.ws()}/changesets/{changeset_id}/{action}", body)
    version = cs.get("promoted_version_number")
    suffix = f" (config version {version} active)" if action == "accept" and version else ""
    emit(cs, as_json, lambda: out.print(f"change set {changeset_id}: {cs['status']}{suffix}"))


@changesets_app.command("accept")
def accept(ctx: typer.Context, changeset_id: str, as_json: JsonOpt = False) -> None:
    """Accept: the diff becomes a new config version, active at once (approve:agents)."""
    _transition(ctx, changeset_id, "accept", as_json)


@changesets_app.command("apply")
def apply(ctx: typer.Context, changeset_id: str, as_json: JsonOpt = False) -> None:
    """Apply an accepted change set: its templates become new template versions."""
    _transition(ctx, changeset_id, "apply", as_json)


@changesets_app.command("rollback")
def rollback(ctx: typer.Context, changeset_id: str, as_json: JsonOpt = False) -> None:
    """Re-activate the config version that was active before."""
    _transition(ctx, changeset_id, "rollback", as_json)


@changesets_app.command("reject")
def reject(
    ctx: typer.Context, changeset_id: str, reason: Annotated[str, typer.Option()], as_json: JsonOpt = False
) -> None:
    """Reject a proposed change set, saying why."""
    _transition(ctx, changeset_id, "reject", as_json, {"reason": reason})
