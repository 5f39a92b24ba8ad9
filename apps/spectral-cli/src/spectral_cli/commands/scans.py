"""Scans: start (and watch), follow, report, cancel."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from spectral_cli.context import Ctx, JsonOpt, emit, out, print_json, resolve_agent, results_of, state, table
from spectral_cli.errors import CliError, ExitCode
from spectral_cli.watch import watch_scan

scan_app = typer.Typer(help="Optimization scans (docs/scans.md).", no_args_is_help=True)


def changeset_rows(changesets: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for cs in changesets:
        impact = cs.get("expected_impact") or {}
        gain = impact.get("objective_gain")
        if impact.get("validated") and gain is not None:
            level = 100 * (impact.get("ci_level") or 0.95)
            shown = (
                f"{gain:+.3f} [{impact.get('ci_low', 0):+.3f}, {impact.get('ci_high', 0):+.3f}] {level:g}%"
            )
        else:
            shown = "estimated" if cs.get("estimated") else "-"
        rows.append((cs["id"], cs["verdict"], cs["status"], shown, cs["title"]))
    return rows


def print_summary(c: Ctx, scan: dict[str, Any]) -> None:
    out.print(f"\nscan {scan['id']} [bold]{scan['status']}[/]")
    if scan.get("error"):
        out.print(f"[red]{scan['error']}[/]")
    summary = scan.get("summary") or {}
    if summary:
        out.print(
            f"{summary.get('n_traces')} traces, {summary.get('n_failing')} failing in analysis, "
            f"{summary.get('n_clusters')} clusters, {summary.get('n_changesets')} change sets "
            f"({summary.get('n_recommended')} recommended)"
        )
        if summary.get("reason"):
            out.print(f"[yellow]{summary['reason']}[/]")
    if scan["status"] == "succeeded":
        changesets = results_of(
            c.client.get(f"{c.ws()}/changesets", params={"scan_id": scan["id"], "limit": 200})
        )
        if changesets:
            out.print(
                table(
                    None,
                    ["change set", "verdict", "status", "holdout gain [CI]", "title"],
                    changeset_rows(changesets),
                )
            )
            out.print("review one with: spectral changesets show ID; spectral changesets diff ID")


def _finish(c: Ctx, scan: dict[str, Any], as_json: bool) -> None:
    emit(scan, as_json, lambda: print_summary(c, scan))
    if scan["status"] != "succeeded":
        raise CliError(
            f"scan {scan['id']} ended {scan['status']}: {scan.get('error') or '-'}", ExitCode.SCAN_FAILED
        )


@scan_app.command("start")
def start(
    ctx: typer.Context,
    agent: Annotated[str, typer.Option(help="Agent id or slug.")],
    rubric: Annotated[str, typer.Option(help="Rubric id.")],
    objective: Annotated[str, typer.Option(help="Objective id.")],
    sample_set: Annotated[str | None, typer.Option(help="Sample set id to replay instead of traces.")] = None,
    holdout: Annotated[float | None, typer.Option(help="Holdout fraction, 0.1..0.5 (default 0.3).")] = None,
    budget: Annotated[float | None, typer.Option(help="Ceiling on model spend, USD.")] = None,
    seed: Annotated[int | None, typer.Option(help="Same traces + same seed = same report.")] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow it to the end with a progress bar per phase.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a scan; with --watch, follow it and print the summary (exit 5 unless it succeeds)."""
    c = state(ctx)
    body: dict[str, Any] = {
        "agent_id": resolve_agent(c, agent),
        "rubric_id": rubric,
        "objective_id": objective,
    }
    optional = {"sample_set_id": sample_set, "holdout_fraction": holdout, "budget_usd": budget, "seed": seed}
    body.update({k: v for k, v in optional.items() if v is not None})
    scan = c.client.post(f"{c.ws()}/scans", body)
    if not watch:
        emit(
            scan,
            as_json,
            lambda: out.print(
                f"scan {scan['id']} {scan['status']}; follow it with: spectral scan watch {scan['id']}"
            ),
        )
        return
    if not as_json:
        out.print(f"scan {scan['id']} {scan['status']}")
    _finish(c, watch_scan(c.client, c.ws(), str(scan["id"]), quiet=as_json), as_json)


@scan_app.command("watch")
def watch_(ctx: typer.Context, scan_id: str, as_json: JsonOpt = False) -> None:
    """Follow a scan to its end (exit 5 unless it succeeds)."""
    c = state(ctx)
    _finish(c, watch_scan(c.client, c.ws(), scan_id, quiet=as_json), as_json)


@scan_app.command("show")
def show(ctx: typer.Context, scan_id: str, as_json: JsonOpt = False) -> None:
    """Status, phase, progress and summary."""
    c = state(ctx)
    scan = c.client.get(f"{c.ws()}/scans/{scan_id}")

    def render() -> None:
        out.print(f"phase {scan.get('phase')}, progress {float(scan.get('progress') or 0):.0%}")
        print_summary(c, scan)

    emit(scan, as_json, render)


@scan_app.command("list")
def list_(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(help="Agent id or slug.")] = None,
    status: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Scans, newest first."""
    c = state(ctx)
    params = {"agent_id": resolve_agent(c, agent) if agent else None, "status": status, "limit": 200}
    rows = results_of(c.client.get(f"{c.ws()}/scans", params=params))
    emit(
        rows,
        as_json,
        lambda: out.print(
            table(
                None,
                ["id", "status", "phase", "progress", "created"],
                [
                    (
                        s["id"],
                        s["status"],
                        s.get("phase"),
                        f"{float(s.get('progress') or 0):.0%}",
                        s["created_at"],
                    )
                    for s in rows
                ],
            )
        ),
    )


@scan_app.command("cancel")
def cancel(ctx: typer.Context, scan_id: str, as_json: JsonOpt = False) -> None:
    """Ask a scan to stop (a running one stops at its next batch)."""
    c = state(ctx)
    scan = c.client.post(f"{c.ws()}/scans/{scan_id}/cancel")
    emit(scan, as_json, lambda: out.print(f"scan {scan_id}: {scan['status']} (cancel requested)"))


@scan_app.command("events")
def events(ctx: typer.Context, scan_id: str, after: int = 0, as_json: JsonOpt = False) -> None:
    """The scan's event log from a cursor."""
    c = state(ctx)
    page = c.client.get(f"{c.ws()}/scans/{scan_id}/events", params={"after": after, "limit": 500})

    def render() -> None:
        for e in page["results"]:
            out.print(f"{e['id']:>5} {e['phase']:>10} {escape(e['message'])}")

    emit(page, as_json, render)


@scan_app.command("report")
def report(
    ctx: typer.Context,
    scan_id: str,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="The markdown report instead of JSON.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The scan's report: canonical JSON (default) or markdown."""
    c = state(ctx)
    if markdown and not as_json:
        text = c.client.request(
            "GET", f"{c.ws()}/scans/{scan_id}/report", headers={"Accept": "text/markdown"}
        ).text
        print(text)
        return
    print_json(c.client.get(f"{c.ws()}/scans/{scan_id}/report"))
