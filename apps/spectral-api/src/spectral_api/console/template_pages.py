"""An agent's managed templates: the list, a template's versions side by side, a new version, and
the experiments that tried its text; and an experiment's own page (baseline vs candidate, input
by input).

Texts are written with the API's own template calls (POST / PUT), so a refusal is the API's
validation, shown on the form with what was typed."""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from spectral_api.console.api import ApiProblem, segment
from spectral_api.console.rendering import ConsoleRoute, redirect
from spectral_api.console.security import CheckedForm
from spectral_api.console.workspace_pages import Workspace, Ws, page

router = APIRouter(prefix="/w/{workspace_id}", route_class=ConsoleRoute, include_in_schema=False)

WRITE_SCOPE = "write:workspace"  # what the API's template POST / PUT demand


# ------------------------------------------------------------------------------------------ list


async def _templates_view(
    request: Request,
    ws: Workspace,
    agent_id: uuid.UUID,
    problem: ApiProblem | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    agent = await ws.api.get(f"{ws.base}/agents/{agent_id}")
    templates = await ws.api.get(f"{ws.base}/agents/{agent_id}/templates", limit=200)
    return page(
        request,
        ws,
        "templates.html",
        problem.status if problem else 200,
        problem=problem,
        agent=agent,
        templates=templates["results"],
        can_write=ws.can(WRITE_SCOPE),
        form=form or {},
    )


@router.get("/agents/{agent_id}/templates")
async def templates_page(request: Request, ws: Ws, agent_id: uuid.UUID) -> Response:
    return await _templates_view(request, ws, agent_id)


@router.post("/agents/{agent_id}/templates")
async def create_template(request: Request, ws: Ws, agent_id: uuid.UUID, form: CheckedForm) -> Response:
    body = {"name": form.get("name", ""), "text": form.get("text", "")}
    try:
        created = await ws.api.post(f"{ws.base}/agents/{agent_id}/templates", body)
    except ApiProblem as problem:
        return await _templates_view(request, ws, agent_id, problem, form)
    return redirect(f"{ws.url}/agents/{agent_id}/templates/{segment(created['name'])}")


# -------------------------------------------------------------------------------------- template


@dataclass(slots=True)
class DiffRow:
    """One line pair of a side-by-side diff; a number is None where that side has no line."""

    kind: str  # equal | replace | delete | insert
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def side_by_side(left: str, right: str) -> list[DiffRow]:
    a, b = left.splitlines(), right.splitlines()
    rows: list[DiffRow] = []
    for kind, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            rows.append(
                DiffRow(
                    kind,
                    i + 1 if i < i2 else None,
                    a[i] if i < i2 else "",
                    j + 1 if j < j2 else None,
                    b[j] if j < j2 else "",
                )
            )
    return rows


def _ci_reading(low: float | None, high: float | None) -> str:
    """Where the 95% CI of the objective difference lies: what an experiment can say (only a
    holdout validation gives a change set its verdict)."""
    if low is None or high is None:
        return "no CI"
    if low > 0:
        return "CI above 0"
    if high < 0:
        return "CI below 0"
    return "CI spans 0"


def _edits(changeset: dict[str, Any], name: str) -> bool:
    return any(d.get("kind") == "edit_template" and d.get("key") == name for d in changeset["diff"])


async def _trials(
    ws: Workspace, agent_id: uuid.UUID, name: str, versions: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """The change sets that edit this template and the experiments whose candidate sets it."""
    changesets = (await ws.api.get(f"{ws.base}/changesets", agent_id=str(agent_id), limit=200))["results"]
    editing = {c["id"]: c for c in changesets if _edits(c, name)}
    experiments = (await ws.api.get(f"{ws.base}/changesets/experiments", limit=200))["results"]
    by_text = {v["text"]: v["version"] for v in versions}
    rows = []
    for e in experiments:
        text = (e["candidate_config"].get("templates") or {}).get(name)
        if e["agent_id"] != str(agent_id) or text is None:
            continue
        if e["changeset_id"] is not None and e["changeset_id"] not in editing:
            continue  # its change set leaves this template as it is
        aggregate = e["aggregate"] or {}
        rows.append(
            {
                "experiment": e,
                "result": aggregate.get("result"),
                "ci_low": aggregate.get("ci_low"),
                "ci_high": aggregate.get("ci_high"),
                "reading": _ci_reading(aggregate.get("ci_low"), aggregate.get("ci_high")),
                "text_version": by_text.get(text),
                "changeset": editing.get(e["changeset_id"]) if e["changeset_id"] else None,
            }
        )
    return {"changesets": list(editing.values()), "experiments": rows}


async def _template_view(
    request: Request,
    ws: Workspace,
    agent_id: uuid.UUID,
    name: str,
    *,
    left: int | None = None,
    right: int | None = None,
    problem: ApiProblem | None = None,
    text: str | None = None,
    note: str | None = None,
) -> Response:
    base = f"{ws.base}/agents/{agent_id}/templates/{segment(name)}"
    agent = await ws.api.get(f"{ws.base}/agents/{agent_id}")
    template = await ws.api.get(base)
    versions = (await ws.api.get(f"{base}/versions", limit=200))["results"]
    by_number = {v["version"]: v for v in versions}
    numbers = sorted(by_number)
    right = right if right in by_number else numbers[-1]
    left = left if left in by_number else (numbers[-2] if len(numbers) > 1 else right)
    return page(
        request,
        ws,
        "template.html",
        problem.status if problem else 200,
        problem=problem,
        note=note,
        agent=agent,
        template=template,
        versions=versions,
        left=left,
        right=right,
        diff=side_by_side(by_number[left]["text"], by_number[right]["text"]),
        text=template["text"] if text is None else text,
        can_write=ws.can(WRITE_SCOPE),
        **await _trials(ws, agent_id, template["name"], versions),
    )


@router.get("/agents/{agent_id}/templates/{name}")
async def template_page(
    request: Request,
    ws: Ws,
    agent_id: uuid.UUID,
    name: str,
    left: int | None = None,
    right: int | None = None,
    unchanged: bool = False,
) -> Response:
    note = "The text is unchanged: no new version was stored." if unchanged else None
    return await _template_view(request, ws, agent_id, name, left=left, right=right, note=note)


@router.post("/agents/{agent_id}/templates/{name}")
async def new_template_version(
    request: Request, ws: Ws, agent_id: uuid.UUID, name: str, form: CheckedForm
) -> Response:
    """A new version (the API stores none when the text is the latest one's)."""
    text = form.get("text", "")
    url = f"{ws.url}/agents/{agent_id}/templates/{segment(name)}"
    try:
        saved = await ws.api.call(
            "PUT", f"{ws.base}/agents/{agent_id}/templates/{segment(name)}", json={"text": text}
        )
    except ApiProblem as problem:
        return await _template_view(request, ws, agent_id, name, problem=problem, text=text)
    base = form.get("base", "")
    if base.isdigit() and saved["version"] == int(base):
        return redirect(f"{url}?unchanged=true")
    return redirect(f"{url}?left={saved['version'] - 1 or 1}&right={saved['version']}#diff-h")


# ------------------------------------------------------------------------------------ experiment


@router.get("/experiments/{experiment_id}")
async def experiment_page(request: Request, ws: Ws, experiment_id: uuid.UUID) -> Response:
    experiment = await ws.api.get(f"{ws.base}/changesets/experiments/{experiment_id}")
    agent = await ws.api.get(f"{ws.base}/agents/{experiment['agent_id']}")
    aggregate = experiment["aggregate"] or {}
    return page(
        request,
        ws,
        "experiment.html",
        experiment=experiment,
        agent=agent,
        aggregate=aggregate,
        reading=_ci_reading(aggregate.get("ci_low"), aggregate.get("ci_high")),
        rows=experiment["results"] or [],
    )
