"""Rubrics, objectives and sample sets: the basics (create from a JSON file, list, show)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from spectral_cli.context import (
    JsonOpt,
    emit,
    out,
    print_json,
    read_json_file,
    resolve_agent,
    results_of,
    state,
    table,
)
from spectral_cli.errors import CliError, ExitCode

rubrics_app = typer.Typer(help="Rubrics: what a good answer is.", no_args_is_help=True)
objectives_app = typer.Typer(help="Objectives: quality against cost and latency.", no_args_is_help=True)
samples_app = typer.Typer(help="Sample sets: inputs to replay.", no_args_is_help=True)

FileOpt = Annotated[str, typer.Option("--file", "-f", help="A JSON file with the API's create payload.")]


def _collection(ctx: typer.Context, path: str, columns: list[str], keys: list[str], as_json: bool) -> None:
    c = state(ctx)
    rows = results_of(c.client.get(f"{c.ws()}{path}", params={"limit": 200}))

    def cell(row: dict[str, Any], key: str) -> Any:
        return len(row["dimensions"]) if key == "n_dimensions" else row.get(key)

    emit(rows, as_json, lambda: out.print(table(None, columns, [[cell(r, k) for k in keys] for r in rows])))


def _one(ctx: typer.Context, path: str) -> None:
    c = state(ctx)
    print_json(c.client.get(f"{c.ws()}{path}"))


def _create(ctx: typer.Context, path: str, body: Any, what: str, as_json: bool) -> None:
    c = state(ctx)
    created = c.client.post(f"{c.ws()}{path}", body)
    emit(created, as_json, lambda: out.print(f"created {what} {created.get('name', '')} ({created['id']})"))


@rubrics_app.command("list")
def rubrics_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The workspace's rubrics."""
    _collection(
        ctx, "/evaluations/rubrics", ["id", "name", "dimensions"], ["id", "name", "n_dimensions"], as_json
    )


@rubrics_app.command("show")
def rubrics_show(ctx: typer.Context, rubric_id: str, as_json: JsonOpt = False) -> None:
    """One rubric with its dimensions (always JSON)."""
    _one(ctx, f"/evaluations/rubrics/{rubric_id}")


@rubrics_app.command("create")
def rubrics_create(ctx: typer.Context, file: FileOpt, as_json: JsonOpt = False) -> None:
    """Create a rubric from {name, dimensions: [{key, weight, threshold, scorer: {type, params}}]}."""
    _create(ctx, "/evaluations/rubrics", read_json_file(file), "rubric", as_json)


@rubrics_app.command("generate")
def rubrics_generate(
    ctx: typer.Context,
    agent: Annotated[str, typer.Option(help="Agent id or slug.")],
    name: Annotated[str, typer.Option()] = "Generated rubric",
    as_json: JsonOpt = False,
) -> None:
    """Draft a rubric from the agent's traces and save it."""
    c = state(ctx)
    body = {"agent_id": resolve_agent(c, agent), "save": True, "name": name}
    draft = c.client.post(f"{c.ws()}/evaluations/rubrics/generate", body)
    rubric = draft.get("rubric") or {}
    emit(draft, as_json, lambda: out.print(f"saved rubric {rubric.get('name')} ({rubric.get('id')})"))


@objectives_app.command("list")
def objectives_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The workspace's objectives."""
    _collection(
        ctx, "/evaluations/objectives", ["id", "name", "rubric"], ["id", "name", "rubric_id"], as_json
    )


@objectives_app.command("show")
def objectives_show(ctx: typer.Context, objective_id: str, as_json: JsonOpt = False) -> None:
    """One objective (always JSON)."""
    _one(ctx, f"/evaluations/objectives/{objective_id}")


@objectives_app.command("create")
def objectives_create(ctx: typer.Context, file: FileOpt, as_json: JsonOpt = False) -> None:
    """Create an objective from {name, rubric_id, weights, constraints}."""
    _create(ctx, "/evaluations/objectives", read_json_file(file), "objective", as_json)


@samples_app.command("list")
def samples_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The workspace's sample sets."""
    _collection(ctx, "/samples", ["id", "name", "items"], ["id", "name", "item_count"], as_json)


@samples_app.command("create")
def samples_create(ctx: typer.Context, name: str, as_json: JsonOpt = False) -> None:
    """Create an empty sample set."""
    _create(ctx, "/samples", {"name": name}, "sample set", as_json)


@samples_app.command("import")
def samples_import(ctx: typer.Context, set_id: str, file: Path, as_json: JsonOpt = False) -> None:
    """Import a JSONL file of {input, expected_output?, metadata?}; any bad line imports nothing."""
    c = state(ctx)
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}", ExitCode.USAGE) from exc
    result = c.client.request(
        "POST",
        f"{c.ws()}/samples/{set_id}/import",
        content=content,
        headers={"Content-Type": "application/jsonl"},
    ).json()
    emit(
        result,
        as_json,
        lambda: out.print(
            f"{result['added']} added, {result['duplicates']} duplicates of {result['lines']} lines"
        ),
    )
