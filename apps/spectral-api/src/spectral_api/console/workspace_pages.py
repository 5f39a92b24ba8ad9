"""The pages of one workspace: home, agents and keys, traces, scans, rubrics; and what every
workspace page stands on (`Ws`: the signed-in user there, and what they may do).

Each page reads through the API as the signed-in user; buttons that change things are shown
only with the scope the API will demand, and the API refuses them anyway without it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from spectral.platform.shared.clock import utcnow
from spectral_api.console.api import Api, ApiProblem
from spectral_api.console.charts import line_chart
from spectral_api.console.rendering import ConsoleRoute, redirect, render
from spectral_api.console.security import CheckedForm, session_token

router = APIRouter(prefix="/w/{workspace_id}", route_class=ConsoleRoute, include_in_schema=False)


@dataclass(slots=True)
class Workspace:
    """The signed-in user in one workspace: what the page may offer."""

    api: Api
    id: uuid.UUID
    name: str
    role: str
    scopes: frozenset[str]
    workspaces: list[dict[str, Any]]
    email: str

    @property
    def base(self) -> str:
        return f"/api/v1/workspaces/{self.id}"

    @property
    def url(self) -> str:
        return f"/w/{self.id}"

    def can(self, scope: str) -> bool:
        return scope in self.scopes


async def current_workspace(request: Request, workspace_id: uuid.UUID) -> Workspace:
    token = session_token(request)
    if token is None:
        raise ApiProblem(401, "Sign in first")
    api = Api(request, token)
    me = await api.get("/api/v1/auth/me")
    for ws in me["workspaces"]:
        if ws["id"] == str(workspace_id):
            return Workspace(
                api,
                workspace_id,
                ws["name"],
                ws["role"],
                frozenset(ws["scopes"]),
                me["workspaces"],
                me["email"],
            )
    raise ApiProblem(404, f"Workspace {workspace_id} not found")


Ws = Annotated[Workspace, Depends(current_workspace)]


def page(request: Request, ws: Workspace, name: str, http_status: int = 200, **context: Any) -> Response:
    return render(request, name, http_status=http_status, ws=ws, **context)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


# ------------------------------------------------------------------------------------------ home


@router.get("")
async def workspace_home(request: Request, ws: Ws) -> Response:
    control = await ws.api.get(f"{ws.base}/control-plane")
    briefing = await ws.api.get(f"{ws.base}/morning-briefing")
    next_action = await ws.api.get(f"{ws.base}/supervisor/next-action")
    scans = await ws.api.get(f"{ws.base}/scans", status="succeeded", limit=200)
    names = {a["agent_id"]: a["name"] for a in control["agents"]}
    quality: dict[str, list[tuple[datetime, float]]] = {}
    for scan in scans["results"]:
        objective = (scan.get("summary") or {}).get("baseline_objective")
        finished = _parse_time(scan.get("finished_at"))
        if objective is not None and finished is not None:
            name = names.get(scan["agent_id"], scan["agent_id"])
            quality.setdefault(name, []).append((finished, float(objective)))
    return page(
        request,
        ws,
        "home.html",
        control=control,
        briefing=briefing,
        next_action=next_action,
        chart=line_chart(quality),
    )


# ---------------------------------------------------------------------------------------- agents


@router.get("/agents")
async def agents_page(request: Request, ws: Ws) -> Response:
    agents = await ws.api.get(f"{ws.base}/agents", limit=200)
    return page(request, ws, "agents.html", agents=agents["results"])


def _agent_body(form: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": form.get("name", ""),
        "slug": form.get("slug", ""),
        "description": form.get("description") or None,
        "replay_url": form.get("replay_url") or None,
    }
    if form.get("config", "").strip():
        try:
            body["config"] = json.loads(form["config"])
        except json.JSONDecodeError as exc:
            raise ApiProblem(
                422, "The config is not valid JSON", [f"config: {exc.msg} (line {exc.lineno})"]
            ) from None
    return body


@router.post("/agents")
async def create_agent(request: Request, ws: Ws, form: CheckedForm) -> Response:
    try:
        agent = await ws.api.post(f"{ws.base}/agents", _agent_body(form))
    except ApiProblem as problem:
        agents = await ws.api.get(f"{ws.base}/agents", limit=200)
        return page(
            request, ws, "agents.html", problem.status, agents=agents["results"], problem=problem, form=form
        )
    return redirect(f"{ws.url}/agents/{agent['id']}")


@router.get("/agents/{agent_id}")
async def agent_page(
    request: Request, ws: Ws, agent_id: uuid.UUID, left: int | None = None, right: int | None = None
) -> Response:
    agent = await ws.api.get(f"{ws.base}/agents/{agent_id}")
    versions = (await ws.api.get(f"{ws.base}/agents/{agent_id}/versions", limit=200))["results"]
    numbers = sorted(v["number"] for v in versions)
    by_number = {v["number"]: v for v in versions}
    right = right if right in by_number else (numbers[-1] if numbers else None)
    left = left if left in by_number else (numbers[-2] if len(numbers) > 1 else right)
    diff = _config_diff(by_number[left]["config"], by_number[right]["config"]) if left and right else []
    return page(request, ws, "agent.html", agent=agent, versions=versions, left=left, right=right, diff=diff)


def _flatten(config: dict[str, Any]) -> dict[str, Any]:
    """A config as the fields a diff compares (values stay structured: the page renders them)."""
    flat: dict[str, Any] = {"model": config.get("model", "")}
    for key, value in (config.get("params") or {}).items():
        flat[f"params.{key}"] = value
    for key, value in (config.get("templates") or {}).items():
        flat[f"templates.{key}"] = value
    for number, tool in enumerate(config.get("tools") or [], start=1):
        flat[f"tools.{number}"] = tool
    return flat


def _config_diff(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = _flatten(left), _flatten(right)
    return [
        {"key": key, "left": a.get(key), "right": b.get(key), "changed": a.get(key) != b.get(key)}
        for key in sorted(a.keys() | b.keys())
    ]


@router.post("/agents/{agent_id}/versions/{number}/promote")
async def promote(request: Request, ws: Ws, agent_id: uuid.UUID, number: int, form: CheckedForm) -> Response:
    await ws.api.post(f"{ws.base}/agents/{agent_id}/versions/{number}/promote")
    return redirect(f"{ws.url}/agents/{agent_id}")


# ------------------------------------------------------------------------------------------ keys


@router.get("/keys")
async def keys_page(request: Request, ws: Ws) -> Response:
    keys = await ws.api.get(f"{ws.base}/keys", limit=200)
    return page(request, ws, "keys.html", keys=keys["results"])


@router.post("/keys")
async def create_key(request: Request, ws: Ws, form: CheckedForm) -> Response:
    scopes = [s for s in ("read:agents", "write:traces") if form.get(s)]
    created = await ws.api.post(f"{ws.base}/keys", {"name": form.get("name", ""), "scopes": scopes})
    keys = await ws.api.get(f"{ws.base}/keys", limit=200)
    # The secret exists only in this response: it is shown once and never stored by the console.
    return page(request, ws, "keys.html", http_status=201, keys=keys["results"], created=created)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, ws: Ws, key_id: uuid.UUID, form: CheckedForm) -> Response:
    await ws.api.call("DELETE", f"{ws.base}/keys/{key_id}")
    return redirect(f"{ws.url}/keys")


# ---------------------------------------------------------------------------------------- traces

TRACE_FILTERS = ("agent", "status", "model", "min_score", "max_score", "has_feedback", "q", "start", "end")


@router.get("/traces")
async def traces_page(request: Request, ws: Ws, offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    filters = {k: request.query_params.get(k, "") for k in TRACE_FILTERS}
    traces = await ws.api.get(f"{ws.base}/traces", limit=50, offset=offset, **filters)
    return page(request, ws, "traces.html", traces=traces, filters=filters, offset=offset)


@router.get("/traces/{trace_id}")
async def trace_page(request: Request, ws: Ws, trace_id: Annotated[str, Path(max_length=64)]) -> Response:
    trace = await ws.api.get(f"{ws.base}/traces/{trace_id}")
    return page(request, ws, "trace.html", trace=trace)


@router.post("/traces/{trace_id}/feedback")
async def trace_feedback(request: Request, ws: Ws, trace_id: str, form: CheckedForm) -> Response:
    body = {"kind": "thumbs", "value": form.get("value", ""), "comment": form.get("comment") or None}
    await ws.api.post(f"{ws.base}/traces/{trace_id}/feedback", body)
    return redirect(f"{ws.url}/traces/{trace_id}")


# ----------------------------------------------------------------------------------------- scans


async def _scan_choices(ws: Workspace) -> dict[str, Any]:
    return {
        "agents": (await ws.api.get(f"{ws.base}/agents", limit=200))["results"],
        "rubrics": (await ws.api.get(f"{ws.base}/evaluations/rubrics", limit=200))["results"],
        "objectives": (await ws.api.get(f"{ws.base}/evaluations/objectives", limit=200))["results"],
    }


@router.get("/scans")
async def scans_page(request: Request, ws: Ws) -> Response:
    scans = await ws.api.get(f"{ws.base}/scans", limit=50)
    return page(request, ws, "scans.html", scans=scans["results"], **await _scan_choices(ws))


@router.post("/scans")
async def start_scan(request: Request, ws: Ws, form: CheckedForm) -> Response:
    body: dict[str, Any] = {k: form.get(k, "") for k in ("agent_id", "rubric_id", "objective_id")}
    if form.get("window_days"):
        if not form["window_days"].isdigit() or not 1 <= int(form["window_days"]) <= 365:
            raise ApiProblem(422, "The window is a whole number of days", ["window_days: 1 to 365"])
        body["window"] = {"start": (utcnow() - timedelta(days=int(form["window_days"]))).isoformat()}
    if form.get("seed"):
        # The API takes JSON numbers only; a form field is text.
        if not form["seed"].isdigit():
            raise ApiProblem(422, "The seed is a whole number", ["seed: 0 or more"])
        body["seed"] = int(form["seed"])
    try:
        scan = await ws.api.post(f"{ws.base}/scans", body)
    except ApiProblem as problem:
        scans = await ws.api.get(f"{ws.base}/scans", limit=50)
        context = await _scan_choices(ws)
        return page(
            request, ws, "scans.html", problem.status, scans=scans["results"], problem=problem, **context
        )
    return redirect(f"{ws.url}/scans/{scan['id']}")


async def _scan_progress(ws: Workspace, scan_id: uuid.UUID, after: int | None) -> dict[str, Any]:
    scan = await ws.api.get(f"{ws.base}/scans/{scan_id}")
    events = await ws.api.get(f"{ws.base}/scans/{scan_id}/events", limit=500, after=after)
    return {"scan": scan, "events": events["results"]}


@router.get("/scans/{scan_id}")
async def scan_page(request: Request, ws: Ws, scan_id: uuid.UUID) -> Response:
    progress = await _scan_progress(ws, scan_id, None)
    finished = progress["scan"]["status"] in ("succeeded", "failed", "cancelled")
    cost = await ws.api.get(f"{ws.base}/scans/{scan_id}/cost") if finished else None
    changesets = (
        await ws.api.get(f"{ws.base}/changesets", scan_id=str(scan_id), limit=200) if finished else None
    )
    return page(request, ws, "scan.html", cost=cost, changesets=changesets, **progress)


@router.get("/scans/{scan_id}/progress")
async def scan_progress(request: Request, ws: Ws, scan_id: uuid.UUID) -> Response:
    """The live part of the scan page; the page's script polls it until the scan is finished."""
    return page(request, ws, "scan_progress.html", **await _scan_progress(ws, scan_id, None))


@router.get("/scans/{scan_id}/report")
async def scan_report(request: Request, ws: Ws, scan_id: uuid.UUID) -> Response:
    response = await ws.api.send("GET", f"{ws.base}/scans/{scan_id}/report", accept="text/markdown")
    if response.status_code != 200:
        raise ApiProblem(response.status_code, "The report is not available yet")
    return page(request, ws, "report.html", scan_id=scan_id, report=response.text)


# ------------------------------------------------------------------------------ rubrics/objectives


@router.get("/rubrics")
async def rubrics_page(request: Request, ws: Ws) -> Response:
    rubrics = (await ws.api.get(f"{ws.base}/evaluations/rubrics", limit=200))["results"]
    objectives = (await ws.api.get(f"{ws.base}/evaluations/objectives", limit=200))["results"]
    return page(request, ws, "rubrics.html", rubrics=rubrics, objectives=objectives)


# The editable part of each kind, as JSON text in the form; the API validates it as it would any
# PATCH (scorer parameters included), and a refusal changes nothing and is shown on the form.
EDITABLE = {
    "rubrics": ("evaluations/rubrics", ("dimensions",)),
    "objectives": ("evaluations/objectives", ("weights", "constraints")),
}


def _editable(kind: str) -> tuple[str, tuple[str, ...]]:
    if kind not in EDITABLE:
        raise ApiProblem(404, f"Nothing called {kind} to edit")
    return EDITABLE[kind]


@router.get("/{kind}/{item_id}/edit")
async def edit_page(request: Request, ws: Ws, kind: str, item_id: uuid.UUID) -> Response:
    path, fields = _editable(kind)
    item = await ws.api.get(f"{ws.base}/{path}/{item_id}")
    texts = {f: json.dumps(item.get(f), indent=2, sort_keys=True) for f in fields}
    return page(request, ws, "edit.html", kind=kind, item=item, item_name=item["name"], texts=texts)


@router.post("/{kind}/{item_id}/edit")
async def edit(request: Request, ws: Ws, kind: str, item_id: uuid.UUID, form: CheckedForm) -> Response:
    path, fields = _editable(kind)
    item = await ws.api.get(f"{ws.base}/{path}/{item_id}")
    texts = {f: form.get(f, "") for f in fields}
    try:
        body: dict[str, Any] = {"name": form.get("name", "")}
        for f, text in texts.items():
            try:
                body[f] = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ApiProblem(
                    422, f"{f} is not valid JSON", [f"{f}: {exc.msg} (line {exc.lineno})"]
                ) from None
        await ws.api.call("PATCH", f"{ws.base}/{path}/{item_id}", json=body)
    except ApiProblem as problem:
        return page(
            request,
            ws,
            "edit.html",
            problem.status,
            kind=kind,
            item=item,
            item_name=form.get("name", ""),
            texts=texts,
            problem=problem,
        )
    return redirect(f"{ws.url}/rubrics")
