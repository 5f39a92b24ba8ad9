"""Change sets: the list, a change set's page, its decisions, and the curation of its clusters.

Every change goes through the API's own endpoint (accept/apply/reject/rollback, and the cluster
PATCH, merge and move calls), so the service that checks and records it is the one the REST API
uses. Decisions, merges and moves are confirmed first on a page that states what will change;
a refusal from the service is shown on the change set's page with the API's status."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from spectral_api.console.api import ApiProblem, segment
from spectral_api.console.rendering import ConsoleRoute, redirect
from spectral_api.console.security import CheckedForm
from spectral_api.console.workspace_pages import Workspace, Ws, page

router = APIRouter(prefix="/w/{workspace_id}/changesets", route_class=ConsoleRoute, include_in_schema=False)

CHANGESET_ACTIONS = {
    "accept": "promotes the candidate config as the agent's new active version",
    "apply": "writes the candidate's templates as new managed template versions",
    "reject": "closes the change set without changing the agent",
    "rollback": "restores the agent's previous config and template versions",
}
# The scope the API demands for each action: a button is shown only to those who hold it.
ACTION_SCOPE = {
    "accept": "approve:agents",
    "apply": "approve:agents",
    "reject": "write:workspace",
    "rollback": "approve:agents",
}
# Which status each action starts from (the API's transition table decides; this only hides
# buttons that could not succeed).
ACTION_FROM = {
    "accept": {"proposed"},
    "apply": {"accepted"},
    "reject": {"proposed", "accepted"},
    "rollback": {"accepted", "applied"},
}
# The scope the API's cluster endpoints (PATCH, merge, move) demand.
CURATE_SCOPE = "write:workspace"
# Traces one move form may carry: each is one API call, so a form stays a handful of them.
MAX_MOVE = 50
# Traces of a cluster offered for a move (exemplars first); the API holds the full list.
MOVE_CHOICES = 50


@router.get("")
async def changesets_page(
    request: Request, ws: Ws, status: str = "", verdict: str = "", agent_id: str = ""
) -> Response:
    listing = await ws.api.get(
        f"{ws.base}/changesets", limit=200, status=status, verdict=verdict, agent_id=agent_id
    )
    return page(
        request,
        ws,
        "changesets.html",
        changesets=listing["results"],
        status=status,
        verdict=verdict,
    )


@dataclass(slots=True)
class Clusters:
    """A change set's clusters, each as its own read gives it (label, traces, merged_into_id)."""

    items: list[dict[str, Any]]

    def get(self, cluster_id: uuid.UUID | str) -> dict[str, Any]:
        for cluster in self.items:
            if cluster["id"] == str(cluster_id):
                return cluster
        raise ApiProblem(404, f"Cluster {cluster_id} is not one of this change set's clusters")

    @property
    def live(self) -> list[dict[str, Any]]:
        """The clusters still curated on their own (a merged one lives on inside its survivor)."""
        return [c for c in self.items if c["merged_into_id"] is None]

    def others(self, cluster_id: str) -> list[dict[str, Any]]:
        return [c for c in self.live if c["id"] != cluster_id]

    def target(self, source: dict[str, Any], target_id: str) -> dict[str, Any]:
        """The cluster a merge or move goes to, as the form named it."""
        target = self.get(_cluster_id(target_id))
        if target["id"] == source["id"]:
            raise ApiProblem(422, "Choose another cluster than this one", ["into: the same cluster"])
        return target


def _cluster_id(value: str) -> uuid.UUID:
    """The cluster a form chose (`into`); it is part of API paths, so it must be an id."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiProblem(
            422, "Choose the cluster to merge or move into", ["into: choose a cluster"]
        ) from None


async def load_clusters(ws: Workspace, changeset_id: uuid.UUID) -> Clusters:
    # The list holds summaries; each cluster's own read names its traces.
    base = f"{ws.base}/changesets/{changeset_id}/clusters"
    listed = await ws.api.get(base, limit=100)
    return Clusters([await ws.api.get(f"{base}/{c['id']}") for c in listed["results"]])


async def _changeset(ws: Workspace, changeset_id: uuid.UUID) -> dict[str, Any]:
    changeset: dict[str, Any] = await ws.api.get(f"{ws.base}/changesets/{changeset_id}")
    return changeset


async def changeset_view(
    request: Request, ws: Workspace, changeset_id: uuid.UUID, problem: ApiProblem | None = None
) -> Response:
    """The change set's page; with `problem`, the refusal of what was just tried, on top."""
    changeset = await _changeset(ws, changeset_id)
    clusters = await load_clusters(ws, changeset_id)
    return page(
        request,
        ws,
        "changeset.html",
        problem.status if problem else 200,
        problem=problem,
        cs=changeset,
        clusters=clusters,
        names={c["id"]: c["label"] for c in clusters.items},
        can_curate=ws.can(CURATE_SCOPE),
        move_choices=MOVE_CHOICES,
        actions=[
            a for a in CHANGESET_ACTIONS if changeset["status"] in ACTION_FROM[a] and ws.can(ACTION_SCOPE[a])
        ],
        open_for_decision=any(changeset["status"] in ACTION_FROM[a] for a in CHANGESET_ACTIONS),
    )


@router.get("/{changeset_id}")
async def changeset_page(request: Request, ws: Ws, changeset_id: uuid.UUID) -> Response:
    return await changeset_view(request, ws, changeset_id)


# -------------------------------------------------------------------------------------- clusters


@router.post("/{changeset_id}/clusters/merge")
async def merge_clusters(request: Request, ws: Ws, changeset_id: uuid.UUID, form: CheckedForm) -> Response:
    """Merge the confirmed cluster into the chosen one: the API keeps the first of `cluster_ids`."""
    ids = [form.get("into", ""), form.get("cluster", "")]
    try:
        survivor = await ws.api.post(
            f"{ws.base}/changesets/{changeset_id}/clusters/merge", {"cluster_ids": ids}
        )
    except ApiProblem as problem:
        return await changeset_view(request, ws, changeset_id, problem)
    return redirect(f"{ws.url}/changesets/{changeset_id}#cluster-{survivor['id']}")


@router.get("/{changeset_id}/clusters/{cluster_id}/merge")
async def confirm_merge(
    request: Request, ws: Ws, changeset_id: uuid.UUID, cluster_id: uuid.UUID, into: str = ""
) -> Response:
    clusters = await load_clusters(ws, changeset_id)
    source = clusters.get(cluster_id)
    try:
        target = clusters.target(source, into)
    except ApiProblem as problem:
        return await changeset_view(request, ws, changeset_id, problem)
    cs = await _changeset(ws, changeset_id)
    return page(request, ws, "cluster_confirm.html", cs=cs, op="merge", source=source, target=target)


@router.get("/{changeset_id}/clusters/{cluster_id}/move")
async def confirm_move(
    request: Request,
    ws: Ws,
    changeset_id: uuid.UUID,
    cluster_id: uuid.UUID,
    into: str = "",
    trace: Annotated[list[str] | None, Query()] = None,
) -> Response:
    clusters = await load_clusters(ws, changeset_id)
    source = clusters.get(cluster_id)
    try:
        target = clusters.target(source, into)
        traces = _chosen_traces(trace or [])
        missing = [t for t in traces if t not in source["trace_ids"]]
        if missing:
            raise ApiProblem(
                422,
                "Some chosen traces are no longer in this cluster: reload the page",
                [f"trace {t}: not in “{source['label']}”" for t in missing],
            )
    except ApiProblem as problem:
        return await changeset_view(request, ws, changeset_id, problem)
    cs = await _changeset(ws, changeset_id)
    return page(
        request, ws, "cluster_confirm.html", cs=cs, op="move", source=source, target=target, traces=traces
    )


def _chosen_traces(values: list[str]) -> list[str]:
    traces = list(dict.fromkeys(t for t in values if t))
    if not traces:
        raise ApiProblem(422, "Choose at least one trace to move", ["trace: none chosen"])
    if len(traces) > MAX_MOVE:
        raise ApiProblem(422, f"Move at most {MAX_MOVE} traces at a time", [f"trace: {len(traces)} chosen"])
    return traces


@router.post("/{changeset_id}/clusters/{cluster_id}/move")
async def move_traces(
    request: Request, ws: Ws, changeset_id: uuid.UUID, cluster_id: uuid.UUID, form: CheckedForm
) -> Response:
    """Move the confirmed traces, one API call each; all of them or, if one is refused, none.

    The API moves one trace per call, so a refusal part-way (another curator moved one since
    the confirmation) is undone here by moving the already-moved traces back, and the page
    says exactly what, if anything, could not be put back."""
    base = f"{ws.base}/changesets/{changeset_id}/clusters"
    try:
        to = _cluster_id(form.get("into", ""))
        traces = _chosen_traces(form.get("traces", "").split())
    except ApiProblem as problem:
        return await changeset_view(request, ws, changeset_id, problem)
    moved: list[str] = []
    for trace_id in traces:
        try:
            await ws.api.post(
                f"{base}/{cluster_id}/traces/{segment(trace_id)}/move", {"to_cluster_id": str(to)}
            )
        except ApiProblem as refused:
            stuck = await _move_back(ws, base, moved, to, cluster_id)
            outcome = (
                f"nothing was moved: trace {trace_id} was refused"
                if not stuck
                else f"trace {trace_id} was refused, and {len(stuck)} already moved could not be moved back"
            )
            report = ApiProblem(
                refused.status,
                f"{refused.detail} ({outcome})",
                refused.errors + [f"trace {t}: still in the target cluster" for t in stuck],
            )
            return await changeset_view(request, ws, changeset_id, report)
        moved.append(trace_id)
    return redirect(f"{ws.url}/changesets/{changeset_id}#cluster-{to}")


async def _move_back(
    ws: Workspace, base: str, moved: list[str], moved_to: uuid.UUID, source: uuid.UUID
) -> list[str]:
    """Undo the moves made so far; the traces that could not be moved back."""
    stuck = []
    for trace_id in reversed(moved):
        try:
            await ws.api.post(
                f"{base}/{moved_to}/traces/{segment(trace_id)}/move", {"to_cluster_id": str(source)}
            )
        except ApiProblem:
            stuck.append(trace_id)
    return stuck


@router.post("/{changeset_id}/clusters/{cluster_id}")
async def curate_cluster(
    request: Request, ws: Ws, changeset_id: uuid.UUID, cluster_id: uuid.UUID, form: CheckedForm
) -> Response:
    """Rename a cluster, or dismiss / restore it (what the next validation targets follows)."""
    body: dict[str, Any] = {}
    if "label" in form:
        body["label"] = form["label"]
    if "dismissed" in form:
        body["dismissed"] = form["dismissed"] == "true"
    try:
        await ws.api.call("PATCH", f"{ws.base}/changesets/{changeset_id}/clusters/{cluster_id}", json=body)
    except ApiProblem as problem:
        return await changeset_view(request, ws, changeset_id, problem)
    return redirect(f"{ws.url}/changesets/{changeset_id}#cluster-{cluster_id}")


# ------------------------------------------------------------------------------------- decisions


@router.get("/{changeset_id}/{action}")
async def confirm_changeset_action(
    request: Request, ws: Ws, changeset_id: uuid.UUID, action: str
) -> Response:
    if action not in CHANGESET_ACTIONS:
        raise ApiProblem(404, f"No action {action}")
    changeset = await _changeset(ws, changeset_id)
    return page(
        request, ws, "changeset_confirm.html", cs=changeset, action=action, effect=CHANGESET_ACTIONS[action]
    )


@router.post("/{changeset_id}/{action}")
async def changeset_action(
    request: Request, ws: Ws, changeset_id: uuid.UUID, action: str, form: CheckedForm
) -> Response:
    if action not in CHANGESET_ACTIONS:
        raise ApiProblem(404, f"No action {action}")
    body: dict[str, Any] = {}
    if action == "reject":
        body = {"reason": form.get("reason", "")}
    elif action == "accept" and form.get("override") == "true":
        # Confirmed on the page that states the `reject` verdict and its reason.
        body = {"override": True}
    await ws.api.post(f"{ws.base}/changesets/{changeset_id}/{action}", body)
    return redirect(f"{ws.url}/changesets/{changeset_id}")
