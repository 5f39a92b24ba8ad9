"""The assistant's fixed, typed tool registry over the existing service functions.

Every tool runs as the calling `Principal`: it checks the scope the matching REST route needs
and then calls the same service function the route calls, so the assistant can never see or do
more than the person talking to it. Read tools answer with data plus citations (what the figures
are built from). Action tools never act: they describe the exact request (`plan`), which becomes
an approval; `perform` runs only when a person holding the action's scope approves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.types import ConfigDiff
from spectral.platform.agents import service as agents_service
from spectral.platform.agents.schemas import AgentRead
from spectral.platform.changesets import service as changesets_service
from spectral.platform.changesets.lifecycle import ChangeSetStatus
from spectral.platform.changesets.schemas import ChangeSetRead
from spectral.platform.dashboard import service as dashboard_service
from spectral.platform.evaluations import service as evaluations_service
from spectral.platform.identity.principal import Principal
from spectral.platform.identity.scopes import Scope
from spectral.platform.scans import service as scans_service
from spectral.platform.scans.lifecycle import ScanStatus
from spectral.platform.scans.schemas import ScanCreate, ScanRead, ScanWindow
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.errors import BusinessRuleViolationError, ForbiddenError, NotFoundError
from spectral.platform.shared.pagination import MAX_LIMIT, PageParams
from spectral.platform.supervisor import service as supervisor_service
from spectral.platform.traces import service as traces_service
from spectral.platform.traces.schemas import TraceQuery
from spectral.platform.workspaces import service as workspaces_service
from spectral.platform.workspaces.schemas import Autonomy, AutonomyLevel

# Lists a tool returns are cut to this many rows; the figures it reports are over all rows.
LIST_LIMIT = 20


@dataclass(frozen=True, slots=True)
class ToolContext:
    session: AsyncSession
    principal: Principal
    workspace_id: uuid.UUID

    def ws(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}"


@dataclass(slots=True)
class ToolOutput:
    """`data` is what a model sees; `text` is the sentence the offline planner answers with;
    `citations` name the rows the figures come from: {"kind", "id", and "window" where a figure
    covers a time range}."""

    data: Any
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ActionPlan:
    summary: str
    # The exact REST request approving performs: {"method", "path", "body"}.
    request: dict[str, Any]


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentArg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str = Field(min_length=1, max_length=200, description="Agent id or slug")


class VersionDiffArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str = Field(min_length=1, max_length=200, description="Agent id or slug")
    from_version: int = Field(ge=1)
    to_version: int | None = Field(default=None, ge=1, description="Default: the active version")


class TraceSearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str | None = Field(default=None, max_length=200, description="Agent id or slug")
    status: Literal["ok", "error"] | None = None
    hours: int = Field(default=24, ge=1, le=24 * 90, description="Window: the last N hours")
    q: str | None = Field(default=None, min_length=1, max_length=200, description="Text in input or output")


class TraceArg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trace_id: str = Field(min_length=32, max_length=32, pattern="^[0-9a-fA-F]{32}$")


class ScanListArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str | None = Field(default=None, max_length=200)
    status: ScanStatus | None = None


class ScanArg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scan_id: uuid.UUID


class ChangeSetListArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str | None = Field(default=None, max_length=200)
    status: ChangeSetStatus | None = None


class ChangeSetArg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changeset_id: uuid.UUID


class CompareArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first: uuid.UUID
    second: uuid.UUID


class BriefingArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hours: int = Field(default=24, ge=1, le=24 * 30)


class StartScanArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str = Field(min_length=1, max_length=200, description="Agent id or slug")
    days: int = Field(default=7, ge=1, le=90, description="Scan the traces of the last N days")
    rubric_id: uuid.UUID | None = Field(default=None, description="Default: the workspace's newest rubric")
    objective_id: uuid.UUID | None = Field(default=None, description="Default: the newest objective")


class RejectArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changeset_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=2000)


class AutonomyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: AutonomyLevel


@dataclass(frozen=True, slots=True)
class ReadTool:
    name: str
    description: str
    arguments: type[BaseModel]
    run: Callable[[ToolContext, Any], Awaitable[ToolOutput]]
    scope: Scope = Scope.READ_WORKSPACE


@dataclass(frozen=True, slots=True)
class ActionTool:
    name: str
    description: str
    arguments: type[BaseModel]
    # What the REST route of this action needs: asking needs read, approving needs this.
    scope: Scope
    plan: Callable[[ToolContext, Any], Awaitable[ActionPlan]]
    # Runs as the approver with the approval's arguments and the exact request body it showed.
    perform: Callable[[ToolContext, dict[str, Any], Any], Awaitable[dict[str, Any]]]


Tool = ReadTool | ActionTool


def require(principal: Principal, scope: Scope) -> None:
    if not principal.has(scope):
        raise ForbiddenError(f"This needs the scope {scope.value}, which you do not hold")


# --- helpers over services ------------------------------------------------------------------


async def all_agents(ctx: ToolContext) -> list[AgentRead]:
    page = await agents_service.list_agents(ctx.session, ctx.principal, PageParams(limit=MAX_LIMIT))
    return list(page.results)


async def resolve_agent(ctx: ToolContext, reference: str) -> AgentRead:
    wanted = reference.strip().lower()
    for agent in await all_agents(ctx):
        if wanted in (str(agent.id), agent.slug.lower(), agent.name.lower()):
            return agent
    raise NotFoundError(f"Agent {reference} not found")


def _window(hours: int) -> dict[str, str]:
    until = utcnow()
    return {"start": (until - timedelta(hours=hours)).isoformat(), "end": until.isoformat()}


def _changeset_brief(cs: ChangeSetRead) -> dict[str, Any]:
    return {
        "id": str(cs.id),
        "agent_id": str(cs.agent_id),
        "scan_id": None if cs.scan_id is None else str(cs.scan_id),
        "status": cs.status,
        "verdict": cs.verdict,
        "title": cs.title,
        "expected_impact": cs.expected_impact,
        "validation": cs.validation,
    }


def _scan_brief(scan: ScanRead) -> dict[str, Any]:
    return {
        "id": str(scan.id),
        "agent_id": str(scan.agent_id),
        "status": scan.status,
        "phase": scan.phase,
        "summary": scan.summary,
        "window": scan.parameters.get("window"),
        "finished_at": None if scan.finished_at is None else scan.finished_at.isoformat(),
    }


# --- read tools -----------------------------------------------------------------------------


async def _list_agents(ctx: ToolContext, args: NoArgs) -> ToolOutput:
    agents = await all_agents(ctx)
    data = [
        {"id": str(a.id), "slug": a.slug, "name": a.name, "active_version": a.active_version} for a in agents
    ]
    names = ", ".join(f"{a.slug} ({a.id})" for a in agents) or "none"
    return ToolOutput(data, f"Agents: {names}.", [{"kind": "agent", "id": str(a.id)} for a in agents])


async def _agent_config(ctx: ToolContext, args: AgentArg) -> ToolOutput:
    agent = await resolve_agent(ctx, args.agent)
    config, _ = await agents_service.runtime_config(ctx.session, ctx.principal, agent.id)
    return ToolOutput(
        {"agent_id": str(agent.id), "version": agent.active_version, "config": config},
        f"Agent {agent.slug} ({agent.id}) runs config version {agent.active_version}.",
        [{"kind": "agent", "id": str(agent.id), "version": agent.active_version}],
    )


async def _config_diff(ctx: ToolContext, args: VersionDiffArgs) -> ToolOutput:
    agent = await resolve_agent(ctx, args.agent)
    to_version = args.to_version or agent.active_version
    if to_version is None:
        raise BusinessRuleViolationError(f"Agent {agent.slug} has no active config version")
    before = await agents_service.version_config(ctx.session, ctx.workspace_id, agent.id, args.from_version)
    after = await agents_service.version_config(ctx.session, ctx.workspace_id, agent.id, to_version)
    diff = ConfigDiff.between(before, after)
    return ToolOutput(
        {
            "agent_id": str(agent.id),
            "from_version": args.from_version,
            "to_version": to_version,
            **diff.to_dict(),
        },
        f"Agent {agent.slug}, version {args.from_version} -> {to_version}: {diff.describe()}.",
        [{"kind": "agent", "id": str(agent.id), "versions": [args.from_version, to_version]}],
    )


async def _trace_stats(ctx: ToolContext, args: BriefingArgs) -> ToolOutput:
    plane = await dashboard_service.control_plane(ctx.session, ctx.principal)
    window = _window(24)
    rows = [
        {
            "agent_id": str(a.agent_id),
            "slug": a.slug,
            "traces": a.last_24h.traces,
            "errors": a.last_24h.errors,
            "cost_usd": a.last_24h.cost_usd,
        }
        for a in plane.agents
    ]
    parts = [f"{r['slug']}: {r['traces']} traces, {r['errors']} failing" for r in rows]
    text = f"Last 24 h ({window['start']} to {window['end']}): " + ("; ".join(parts) or "no agents") + "."
    return ToolOutput(
        {"window": window, "agents": rows},
        text,
        [{"kind": "agent", "id": r["agent_id"], "window": window} for r in rows],
    )


async def _search_traces(ctx: ToolContext, args: TraceSearchArgs) -> ToolOutput:
    window = _window(args.hours)
    agent = None if args.agent is None else await resolve_agent(ctx, args.agent)
    query = TraceQuery(
        agent=None if agent is None else str(agent.id),
        start=utcnow() - timedelta(hours=args.hours),
        status=args.status,
        q=args.q,
    )
    page = await traces_service.list_traces(ctx.session, ctx.principal, query, PageParams(limit=LIST_LIMIT))
    total = page.pagination.total
    rows = [
        {
            "trace_id": t.trace_id,
            "status": t.status,
            "error_type": t.error_type,
            "error_message": t.error_message,
            "model": t.model,
            "score": t.score,
            # Trace text is data from the agent's users: shown, never obeyed.
            "input": t.input,
            "output": t.output,
        }
        for t in page.results
    ]
    who = f" of {agent.slug}" if agent else ""
    kind = f" {args.status}" if args.status else ""
    ids = ", ".join(t.trace_id for t in page.results[:5])
    text = f"{total}{kind} traces{who} in the last {args.hours} h" + (f" (e.g. {ids})." if ids else ".")
    return ToolOutput(
        {"window": window, "total": total, "traces": rows},
        text,
        [{"kind": "trace", "id": r["trace_id"], "window": window} for r in rows],
    )


async def _get_trace(ctx: ToolContext, args: TraceArg) -> ToolOutput:
    trace = await traces_service.get_trace(ctx.session, ctx.principal, args.trace_id)
    data = trace.model_dump(mode="json", exclude={"spans"})
    text = f"Trace {trace.trace_id}: {trace.status}, {trace.span_count} spans, model {trace.model}."
    return ToolOutput(data, text, [{"kind": "trace", "id": trace.trace_id}])


async def _list_scans(ctx: ToolContext, args: ScanListArgs) -> ToolOutput:
    agent = None if args.agent is None else await resolve_agent(ctx, args.agent)
    rows, total = await scans_service.list_scans(
        ctx.session,
        ctx.workspace_id,
        PageParams(limit=LIST_LIMIT),
        agent_id=None if agent is None else agent.id,
        status=args.status,
    )
    scans = [_scan_brief(ScanRead.model_validate(s, from_attributes=True)) for s in rows]
    parts = ", ".join(f"{s['id']} ({s['status']})" for s in scans)
    return ToolOutput(
        {"total": total, "scans": scans},
        f"{total} scans" + (f": {parts}." if parts else "."),
        [{"kind": "scan", "id": s["id"]} for s in scans],
    )


async def _scan_report(ctx: ToolContext, args: ScanArg) -> ToolOutput:
    scan = ScanRead.model_validate(
        await scans_service.get_scan(ctx.session, ctx.workspace_id, args.scan_id), from_attributes=True
    )
    brief = _scan_brief(scan)
    citation = {"kind": "scan", "id": str(scan.id), "window": brief["window"]}
    if scan.status != ScanStatus.SUCCEEDED:
        return ToolOutput(brief, f"Scan {scan.id} is {scan.status}.", [citation])
    _, markdown = await scans_service.scan_report(ctx.session, ctx.workspace_id, args.scan_id)
    return ToolOutput(
        {**brief, "report_markdown": markdown},
        f"Scan {scan.id} succeeded: {scan.summary}.",
        [citation],
    )


async def _list_changesets(ctx: ToolContext, args: ChangeSetListArgs) -> ToolOutput:
    agent = None if args.agent is None else await resolve_agent(ctx, args.agent)
    rows, total = await changesets_service.list_changesets(
        ctx.session,
        ctx.workspace_id,
        PageParams(limit=LIST_LIMIT),
        agent_id=None if agent is None else agent.id,
        status=args.status,
        scan_id=None,
    )
    parts = ", ".join(f"{c.id} ({c.status}, {c.verdict}: {c.title})" for c in rows)
    return ToolOutput(
        {"total": total, "changesets": [_changeset_brief(c) for c in rows]},
        f"{total} change sets" + (f": {parts}." if parts else "."),
        [{"kind": "changeset", "id": str(c.id)} for c in rows],
    )


async def _get_changeset(ctx: ToolContext, args: ChangeSetArg) -> ToolOutput:
    cs = await changesets_service.read_changeset(ctx.session, ctx.workspace_id, args.changeset_id)
    data = {**_changeset_brief(cs), "diff": cs.diff, "rationale": cs.rationale, "clusters": cs.clusters}
    return ToolOutput(
        _jsonable(data),
        f"Change set {cs.id} ({cs.status}, verdict {cs.verdict}): {cs.title}.",
        [{"kind": "changeset", "id": str(cs.id)}, *_scan_citation(cs)],
    )


def _scan_citation(cs: ChangeSetRead) -> list[dict[str, Any]]:
    return [] if cs.scan_id is None else [{"kind": "scan", "id": str(cs.scan_id)}]


def _gain(cs: ChangeSetRead) -> Any:
    validation = cs.validation or {}
    return validation.get("mean_difference", cs.expected_impact.get("quality"))


async def _compare_changesets(ctx: ToolContext, args: CompareArgs) -> ToolOutput:
    first = await changesets_service.read_changeset(ctx.session, ctx.workspace_id, args.first)
    second = await changesets_service.read_changeset(ctx.session, ctx.workspace_id, args.second)
    rows = [{**_changeset_brief(cs), "diff": cs.diff, "quality_gain": _gain(cs)} for cs in (first, second)]
    text = "; ".join(
        f"{cs.id}: {cs.status}, verdict {cs.verdict}, {len(cs.diff)} changes, quality gain {_gain(cs)}"
        for cs in (first, second)
    )
    return ToolOutput(
        _jsonable(rows),
        f"Compared: {text}.",
        [{"kind": "changeset", "id": str(first.id)}, {"kind": "changeset", "id": str(second.id)}],
    )


async def _list_clusters(ctx: ToolContext, args: ChangeSetArg) -> ToolOutput:
    clusters = await changesets_service.list_clusters(ctx.session, ctx.workspace_id, args.changeset_id)
    data = [c.model_dump(mode="json") for c in clusters]
    parts = ", ".join(str(c.get("label")) for c in data)
    return ToolOutput(
        data,
        f"{len(data)} clusters behind change set {args.changeset_id}" + (f": {parts}." if parts else "."),
        [{"kind": "changeset", "id": str(args.changeset_id)}],
    )


async def _supervisor_state(ctx: ToolContext, args: NoArgs) -> ToolOutput:
    state = await supervisor_service.state(ctx.session, ctx.principal)
    data = state.model_dump(mode="json")
    return ToolOutput(data, f"Autonomy level: {data.get('autonomy', {}).get('level', 'unknown')}.")


async def _next_action(ctx: ToolContext, args: NoArgs) -> ToolOutput:
    action = await supervisor_service.next_action(ctx.session, ctx.principal)
    data = action.model_dump(mode="json")
    call = data.get("call")
    how = f" ({call['method']} {call['path']})" if call else ""
    return ToolOutput(data, f"Next step: {action.action}: {action.reason}{how}")


async def _failures(ctx: ToolContext, args: NoArgs) -> ToolOutput:
    report = await supervisor_service.failures(ctx.session, ctx.principal)
    data = report.model_dump(mode="json")
    return ToolOutput(data, "Failure clusters of each agent's latest succeeded scan are attached.")


async def _morning_briefing(ctx: ToolContext, args: BriefingArgs) -> ToolOutput:
    briefing = await dashboard_service.morning_briefing(
        ctx.session, ctx.principal, utcnow() - timedelta(hours=args.hours)
    )
    window = {"start": briefing.since.isoformat(), "end": briefing.until.isoformat()}
    text = f"Since {window['start']}: " + " ".join(briefing.lines)
    return ToolOutput(briefing.model_dump(mode="json"), text, [{"kind": "briefing", "window": window}])


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# --- action tools: plan (the approval) and perform (after approval) --------------------------


async def _objective_and_rubric(ctx: ToolContext, args: StartScanArgs) -> tuple[uuid.UUID, uuid.UUID]:
    """The objective and rubric a scan uses: the ones named, else the newest objective (over the
    named rubric, if one is named) and the rubric that objective is defined over, so the two
    always fit together."""
    if args.objective_id is not None:
        _, rubric_id = await evaluations_service.load_objective(
            ctx.session, ctx.workspace_id, args.objective_id
        )
        return args.objective_id, args.rubric_id or rubric_id
    objectives = await evaluations_service.list_objectives(
        ctx.session, ctx.principal, PageParams(limit=1), rubric_id=args.rubric_id
    )
    if not objectives.results:
        over = f" over rubric {args.rubric_id}" if args.rubric_id else ""
        raise BusinessRuleViolationError(f"The workspace has no objective{over}: a scan needs one")
    newest = objectives.results[0]
    return newest.id, newest.rubric_id


async def _scan_body(ctx: ToolContext, args: StartScanArgs) -> ScanCreate:
    agent = await resolve_agent(ctx, args.agent)
    objective_id, rubric_id = await _objective_and_rubric(ctx, args)
    now = utcnow()
    return ScanCreate(
        agent_id=agent.id,
        rubric_id=rubric_id,
        objective_id=objective_id,
        window=ScanWindow(start=now - timedelta(days=args.days), end=now),
    )


def _s(count: int) -> str:
    return "" if count == 1 else "s"


async def _plan_scan(ctx: ToolContext, args: StartScanArgs) -> ActionPlan:
    body = await _scan_body(ctx, args)
    agent = await resolve_agent(ctx, args.agent)
    return ActionPlan(
        summary=f"Start a scan of {agent.slug} on the traces of the last {args.days} day{_s(args.days)}",
        request={"method": "POST", "path": f"{ctx.ws()}/scans", "body": body.model_dump(mode="json")},
    )


async def _perform_scan(ctx: ToolContext, arguments: dict[str, Any], request_body: Any) -> dict[str, Any]:
    scan = await scans_service.start_scan(
        ctx.session, ctx.principal, ctx.workspace_id, ScanCreate.model_validate(request_body)
    )
    return {
        "kind": "scan",
        "id": str(scan.id),
        "status": scan.status,
        "location": f"{ctx.ws()}/scans/{scan.id}",
    }


def _changeset_action(
    verb: str, transition: Callable[[AsyncSession, Principal, uuid.UUID, uuid.UUID], Awaitable[ChangeSetRead]]
) -> tuple[
    Callable[[ToolContext, ChangeSetArg], Awaitable[ActionPlan]],
    Callable[[ToolContext, dict[str, Any], Any], Awaitable[dict[str, Any]]],
]:
    async def plan(ctx: ToolContext, args: ChangeSetArg) -> ActionPlan:
        cs = await changesets_service.read_changeset(ctx.session, ctx.workspace_id, args.changeset_id)
        return ActionPlan(
            summary=f"{verb.capitalize()} change set {cs.id} ({cs.title}), now {cs.status}",
            request={"method": "POST", "path": f"{ctx.ws()}/changesets/{cs.id}/{verb}", "body": None},
        )

    async def perform(ctx: ToolContext, arguments: dict[str, Any], request_body: Any) -> dict[str, Any]:
        changeset_id = ChangeSetArg.model_validate(arguments).changeset_id
        cs = await transition(ctx.session, ctx.principal, ctx.workspace_id, changeset_id)
        return {"kind": "changeset", "id": str(cs.id), "status": cs.status}

    return plan, perform


_plan_accept, _perform_accept = _changeset_action("accept", changesets_service.accept)
_plan_rollback, _perform_rollback = _changeset_action("rollback", changesets_service.rollback)


async def _plan_reject(ctx: ToolContext, args: RejectArgs) -> ActionPlan:
    cs = await changesets_service.read_changeset(ctx.session, ctx.workspace_id, args.changeset_id)
    return ActionPlan(
        summary=f"Reject change set {cs.id} ({cs.title}), now {cs.status}",
        request={
            "method": "POST",
            "path": f"{ctx.ws()}/changesets/{cs.id}/reject",
            "body": {"reason": args.reason},
        },
    )


async def _perform_reject(ctx: ToolContext, arguments: dict[str, Any], request_body: Any) -> dict[str, Any]:
    args = RejectArgs.model_validate(arguments)
    cs = await changesets_service.reject(
        ctx.session, ctx.principal, ctx.workspace_id, args.changeset_id, args.reason
    )
    return {"kind": "changeset", "id": str(cs.id), "status": cs.status}


async def _plan_validation(ctx: ToolContext, args: ChangeSetArg) -> ActionPlan:
    cs = await changesets_service.read_changeset(ctx.session, ctx.workspace_id, args.changeset_id)
    return ActionPlan(
        summary=f"Run a holdout validation of change set {cs.id} ({cs.title})",
        request={"method": "POST", "path": f"{ctx.ws()}/changesets/{cs.id}/validation", "body": None},
    )


async def _perform_validation(
    ctx: ToolContext, arguments: dict[str, Any], request_body: Any
) -> dict[str, Any]:
    changeset_id = ChangeSetArg.model_validate(arguments).changeset_id
    run = await changesets_service.start_validation(
        ctx.session, ctx.principal, ctx.workspace_id, changeset_id
    )
    return {"kind": "validation_run", "id": str(run.id), "status": run.status}


async def _plan_autonomy(ctx: ToolContext, args: AutonomyArgs) -> ActionPlan:
    current = await workspaces_service.get_autonomy(ctx.session, ctx.principal)
    body = Autonomy(level=args.level, guardrails=current.guardrails)
    return ActionPlan(
        summary=f"Change the workspace's autonomy from {current.level} to {args.level}",
        request={"method": "PUT", "path": f"{ctx.ws()}/autonomy", "body": body.model_dump(mode="json")},
    )


async def _perform_autonomy(ctx: ToolContext, arguments: dict[str, Any], request_body: Any) -> dict[str, Any]:
    result = await workspaces_service.set_autonomy(
        ctx.session, ctx.principal, Autonomy.model_validate(request_body)
    )
    return {"kind": "autonomy", "level": result.level}


READ_TOOLS: tuple[ReadTool, ...] = (
    ReadTool("list_agents", "The workspace's agents (id, slug, active version)", NoArgs, _list_agents),
    ReadTool(
        "agent_config",
        "An agent's active config (model, params, templates)",
        AgentArg,
        _agent_config,
        Scope.READ_AGENTS,
    ),
    ReadTool(
        "config_diff",
        "What changed in an agent's config between two versions",
        VersionDiffArgs,
        _config_diff,
        Scope.READ_AGENTS,
    ),
    ReadTool(
        "trace_stats",
        "Per agent: traces, failing traces and cost of the last 24 h",
        BriefingArgs,
        _trace_stats,
    ),
    ReadTool(
        "search_traces", "Search traces by agent, status, window and text", TraceSearchArgs, _search_traces
    ),
    ReadTool("get_trace", "One trace by its 32-hex id", TraceArg, _get_trace),
    ReadTool("list_scans", "Scans, newest first (by agent and status)", ScanListArgs, _list_scans),
    ReadTool("scan_report", "A scan's status, window and report", ScanArg, _scan_report),
    ReadTool("list_changesets", "Change sets (by agent and status)", ChangeSetListArgs, _list_changesets),
    ReadTool(
        "get_changeset", "A change set: diff, rationale, validation, clusters", ChangeSetArg, _get_changeset
    ),
    ReadTool("compare_changesets", "Two change sets side by side", CompareArgs, _compare_changesets),
    ReadTool("list_clusters", "The failure clusters behind a change set", ChangeSetArg, _list_clusters),
    ReadTool(
        "supervisor_state", "Autonomy, guardrails and recent supervisor actions", NoArgs, _supervisor_state
    ),
    ReadTool("next_action", "The single most useful next step", NoArgs, _next_action),
    ReadTool("failures", "Failure clusters of each agent's latest scan", NoArgs, _failures),
    ReadTool("morning_briefing", "What happened in the last N hours", BriefingArgs, _morning_briefing),
)


ACTION_TOOLS: tuple[ActionTool, ...] = (
    ActionTool(
        "start_scan",
        "Propose starting a scan of an agent (creates an approval)",
        StartScanArgs,
        Scope.WRITE_WORKSPACE,
        _plan_scan,
        _perform_scan,
    ),
    ActionTool(
        "accept_changeset",
        "Propose accepting a change set (creates an approval)",
        ChangeSetArg,
        Scope.APPROVE_AGENTS,
        _plan_accept,
        _perform_accept,
    ),
    ActionTool(
        "reject_changeset",
        "Propose rejecting a change set with a reason (creates an approval)",
        RejectArgs,
        Scope.WRITE_WORKSPACE,
        _plan_reject,
        _perform_reject,
    ),
    ActionTool(
        "rollback_changeset",
        "Propose rolling back an accepted or applied change set (creates an approval)",
        ChangeSetArg,
        Scope.APPROVE_AGENTS,
        _plan_rollback,
        _perform_rollback,
    ),
    ActionTool(
        "run_validation",
        "Propose a holdout validation run of a change set (creates an approval)",
        ChangeSetArg,
        Scope.WRITE_WORKSPACE,
        _plan_validation,
        _perform_validation,
    ),
    ActionTool(
        "set_autonomy",
        "Propose changing the workspace's autonomy level (creates an approval)",
        AutonomyArgs,
        Scope.ADMIN_WORKSPACE,
        _plan_autonomy,
        _perform_autonomy,
    ),
)

TOOLS: dict[str, Tool] = {
    **{tool.name: tool for tool in READ_TOOLS},
    **{tool.name: tool for tool in ACTION_TOOLS},
}
