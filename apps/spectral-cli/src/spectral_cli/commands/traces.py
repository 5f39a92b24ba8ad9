"""Sending and listing traces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from spectral_cli.context import JsonOpt, emit, out, results_of, state, table
from spectral_cli.errors import CliError, ExitCode
from spectral_cli.trace_files import OTLP_PATH, read_batches

traces_app = typer.Typer(help="Send traces from a file; list what arrived.", no_args_is_help=True)


@traces_app.command("send")
def send(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="OTLP/JSON, native JSON, or JSONL.")],
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Spans per request.")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Send a file of spans; exits 1 if the server rejected any."""
    c = state(ctx)
    batches = read_batches(file, batch_size)
    ws = c.ws()
    totals: dict[str, Any] = {"requests": 0, "spans": 0, "accepted": 0, "rejected": 0, "errors": []}
    with Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("spans"),
        TimeElapsedColumn(),
        console=out,
        disable=as_json,
        transient=False,
    ) as progress:
        task = progress.add_task("send", total=sum(b.n_spans for b in batches))
        for batch in batches:
            if batch.kind == "otlp":
                # With a user's token the OTLP endpoint needs the workspace; an API key names its own.
                answer = (
                    c.client.post(OTLP_PATH, batch.body, headers={"X-Workspace-Id": ws.rsplit("/", 1)[1]})
                    or {}
                )
                partial = answer.get("partialSuccess") or {}
                rejected = int(partial.get("rejectedSpans") or 0)
                message = partial.get("errorMessage")
                errors = [message] if message else []
            else:
                answer = c.client.post(f"{ws}/traces", batch.body)
                rejected, errors = int(answer["rejected"]), list(answer.get("errors") or [])
            totals["requests"] += 1
            totals["spans"] += batch.n_spans
            totals["accepted"] += batch.n_spans - rejected
            totals["rejected"] += rejected
            totals["errors"].extend(e for e in errors if e not in totals["errors"])
            progress.advance(task, batch.n_spans)
    emit(
        totals,
        as_json,
        lambda: out.print(
            f"{totals['accepted']} spans accepted, {totals['rejected']} rejected in {totals['requests']} requests"
            + "".join(f"\n  rejected: {e}" for e in totals["errors"])
        ),
    )
    if totals["rejected"]:
        raise CliError(
            f"the server rejected {totals['rejected']} of {totals['spans']} spans", ExitCode.API_ERROR
        )


@traces_app.command("list")
def list_(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(help="Agent id or slug.")] = None,
    status: Annotated[str | None, typer.Option(help="ok or error.")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    q: Annotated[str | None, typer.Option(help="Text in input or output.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Traces, newest first, with the API's filters."""
    c = state(ctx)
    page = c.client.get(
        f"{c.ws()}/traces",
        params={"agent": agent, "status": status, "model": model, "q": q, "limit": limit, "offset": offset},
    )
    rows = results_of(page)

    def render() -> None:
        out.print(
            table(
                None,
                ["trace id", "agent", "start", "status", "model", "ms", "score"],
                [
                    (
                        t["trace_id"],
                        t.get("agent_key"),
                        t["start_time"],
                        t["status"],
                        t.get("model"),
                        round(t["duration_ms"]),
                        t.get("score"),
                    )
                    for t in rows
                ],
            )
        )
        total = page["pagination"]["total"]
        out.print(f"[dim]{len(rows)} of {total}[/]")

    emit(page, as_json, render)
