"""The supervisor's reads and its nightly run, by deterministic rules (no model involved): what it
may do, what it did, the next useful step, the scans it would run tonight, where each agent's
models sit on the cost-quality frontier, and the failures its latest scans found."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.agents import repository as agents_repository
from spectral.platform.agents.models import Agent
from spectral.platform.changesets import repository as changesets_repository
from spectral.platform.evaluations import repository as evaluations_repository
from spectral.platform.evaluations.quality import DropPolicy, quality_drop
from spectral.platform.identity.principal import Principal
from spectral.platform.scans import repository as scans_repository
from spectral.platform.scans import service as scans_service
from spectral.platform.scans.autonomy import held_back
from spectral.platform.scans.lifecycle import ScanStatus
from spectral.platform.scans.schemas import ScanCreate, ScanRead
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.errors import BusinessRuleViolationError
from spectral.platform.supervisor.schemas import (
    AgentFrontier,
    ApiCall,
    ChangeSetRef,
    FailureClusterRead,
    FailuresRead,
    FrontierReportRead,
    ModelPoint,
    NextActionRead,
    NightlyPlanRead,
    NightlyRunRead,
    PlannedScan,
    SupervisorAction,
    SupervisorStateRead,
    WaitingChangeSet,
)
from spectral.platform.traces import repository as traces_repository
from spectral.platform.traces import service as traces_service
from spectral.platform.workspaces import repository as workspaces_repository
from spectral.platform.workspaces import service as workspaces_service
from spectral.platform.workspaces.audit import record_audit

SUPERVISOR_ACTOR = "supervisor"
RECENT_ACTIONS = 20
FRONTIER_WINDOW = timedelta(days=7)


def _ws_path(workspace_id: uuid.UUID) -> str:
    return f"/api/v1/workspaces/{workspace_id}"


async def state(session: AsyncSession, principal: Principal) -> SupervisorStateRead:
    workspace_id = traces_service.workspace_of(principal)
    autonomy = await workspaces_service.get_autonomy(session, principal)
    actions = await workspaces_repository.audit_by_actor(
        session, workspace_id, SUPERVISOR_ACTOR, limit=RECENT_ACTIONS
    )
    waiting = await changesets_repository.recommended_waiting(session, workspace_id)
    return SupervisorStateRead(
        autonomy_level=autonomy.level,
        guardrails=autonomy.guardrails,
        recent_actions=[SupervisorAction.model_validate(a, from_attributes=True) for a in actions],
        waiting_for_human=[
            WaitingChangeSet.model_validate({**c.model_dump(), "held_back": held_back(c, autonomy)})
            for c in waiting
        ],
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    agent: Agent
    rubric_id: uuid.UUID
    objective_id: uuid.UUID
    reason: str


async def _plan(session: AsyncSession, workspace_id: uuid.UUID) -> list[_Plan]:
    """Agents worth scanning now: an active config, traces received after their last scan began,
    and a rubric + objective (their last scan's, else the newest objective fit for the agent)."""
    activity = await traces_repository.activity_by_agent(session, workspace_id)
    latest = await scans_repository.latest_scan_per_agent(session, workspace_id)
    plans = []
    for agent in await agents_repository.all_agents(session, workspace_id):
        newest = activity.get(agent.id)
        if agent.active_version_number is None or newest is None or newest.last_received_at is None:
            continue
        scan = latest.get(agent.id)
        if scan is not None and as_utc(newest.last_received_at) <= as_utc(scan.created_at):
            continue
        if scan is not None:
            rubric_id, objective_id = scan.rubric_id, scan.objective_id
        else:
            objective = await evaluations_repository.newest_objective_for_agent(
                session, workspace_id, agent.id
            )
            if objective is None:
                continue
            rubric_id, objective_id = objective.rubric_id, objective.id
        reason = "never scanned" if scan is None else f"new traces since scan {scan.id}"
        plans.append(_Plan(agent=agent, rubric_id=rubric_id, objective_id=objective_id, reason=reason))
    return plans


async def nightly_plan(session: AsyncSession, principal: Principal) -> NightlyPlanRead:
    workspace_id = traces_service.workspace_of(principal)
    budget = (await workspaces_service.get_autonomy(session, principal)).guardrails.nightly_budget_usd
    plans = await _plan(session, workspace_id)
    share = round(budget / len(plans), 6) if plans else 0.0
    return NightlyPlanRead(
        nightly_budget_usd=budget,
        scans=[
            PlannedScan(
                agent_id=p.agent.id,
                agent_name=p.agent.name,
                rubric_id=p.rubric_id,
                objective_id=p.objective_id,
                budget_usd=share,
                reason=p.reason,
            )
            for p in plans
        ],
    )


async def run_nightly_plan(session: AsyncSession, principal: Principal) -> NightlyRunRead:
    """Start tonight's scans now. They are the supervisor's (created_by, audit actor); the audit
    entry names the person who asked, so the log shows both."""
    workspace_id = traces_service.workspace_of(principal)
    plan = await nightly_plan(session, principal)
    if not plan.scans:
        raise BusinessRuleViolationError("Nothing to scan: no agent has new traces and a rubric + objective")
    supervisor = Principal.supervisor(workspace_id, principal.account_id)
    started = []
    for planned in plan.scans:
        body = ScanCreate(
            agent_id=planned.agent_id,
            rubric_id=planned.rubric_id,
            objective_id=planned.objective_id,
            budget_usd=planned.budget_usd,
        )
        scan = await scans_service.create_scan(session, workspace_id, body, created_by=SUPERVISOR_ACTOR)
        await record_audit(
            session,
            supervisor,
            workspace_id,
            action="scan.start",
            resource_type="scan",
            resource_id=scan.id,
            after={"requested_by": principal.actor, "reason": planned.reason},
        )
        started.append(ScanRead.model_validate(scan, from_attributes=True))
    return NightlyRunRead(scans=started)


async def _quality_drop_scan(
    session: AsyncSession, workspace_id: uuid.UUID, policy: DropPolicy
) -> NextActionRead | None:
    """A scan for the first agent whose online quality dropped (measured, see `quality_drop`), with
    its online rubric and the newest objective over that rubric."""
    now = utcnow()
    for agent in await agents_repository.all_agents(session, workspace_id):
        if agent.online_rubric_id is None or agent.active_version_number is None:
            continue
        drop = await quality_drop(session, workspace_id, agent.id, policy, now)
        if drop is None:
            continue
        objectives = await evaluations_repository.objectives_of_rubric(
            session, workspace_id, agent.online_rubric_id
        )
        if not objectives:
            continue
        objective = max(objectives, key=lambda o: (as_utc(o.created_at), str(o.id)))
        hours = policy.window.total_seconds() / 3600
        return NextActionRead(
            action="run_scan",
            reason=(
                f"Agent {agent.name}: online quality fell from {drop.baseline_mean:.2f} to {drop.recent_mean:.2f} "
                f"(-{drop.drop:.2f}, threshold {drop.threshold:.2f}) over the last {hours:g} h "
                f"({drop.recent_traces} scored traces) against the week before ({drop.baseline_traces})."
            ),
            call=ApiCall(
                method="POST",
                path=f"{_ws_path(workspace_id)}/scans",
                body={
                    "agent_id": str(agent.id),
                    "rubric_id": str(agent.online_rubric_id),
                    "objective_id": str(objective.id),
                    "window": {"start": drop.window_start.isoformat()},
                },
            ),
            quality_drop=drop,
        )
    return None


async def next_action(
    session: AsyncSession, principal: Principal, drop_policy: DropPolicy | None = None
) -> NextActionRead:
    """The first rule that applies, in the order the loop needs them; a measured quality drop
    (with `drop_policy`) comes right after change sets waiting for a decision."""
    workspace_id = traces_service.workspace_of(principal)
    ws = _ws_path(workspace_id)
    activity = await traces_repository.activity_by_agent(session, workspace_id)
    if not activity:
        return NextActionRead(
            action="send_traces",
            reason="No traces yet: nothing can be evaluated or improved without them.",
            call=ApiCall(method="POST", path=f"{ws}/traces"),
        )
    rubrics, objectives = await evaluations_repository.counts(session, workspace_id)
    if rubrics == 0:
        return NextActionRead(
            action="create_rubric",
            reason="No rubric: a scan needs to know how a good answer is scored.",
            call=ApiCall(method="POST", path=f"{ws}/evaluations/rubrics"),
        )
    if objectives == 0:
        return NextActionRead(
            action="create_objective",
            reason="No objective: a scan needs to know how to weigh quality, cost and latency.",
            call=ApiCall(method="POST", path=f"{ws}/evaluations/objectives"),
        )
    waiting = await changesets_repository.recommended_waiting(session, workspace_id)
    if waiting:
        changeset = waiting[0]
        return NextActionRead(
            action="review_changeset",
            reason=f"Change set {changeset.id} ({changeset.title}) is recommended by its validation and waits "
            "for a decision.",
            call=ApiCall(method="POST", path=f"{ws}/changesets/{changeset.id}/accept"),
        )
    if drop_policy is not None:
        dropped = await _quality_drop_scan(session, workspace_id, drop_policy)
        if dropped is not None:
            return dropped
    plans = await _plan(session, workspace_id)
    if plans:
        first = plans[0]
        body = {
            "agent_id": str(first.agent.id),
            "rubric_id": str(first.rubric_id),
            "objective_id": str(first.objective_id),
        }
        return NextActionRead(
            action="run_scan",
            reason=f"Agent {first.agent.name}: {first.reason}.",
            call=ApiCall(method="POST", path=f"{ws}/scans", body=body),
        )
    return NextActionRead(action="none", reason="Nothing to do until new traces arrive.", call=None)


def _frontier(points: list[ModelPoint]) -> list[ModelPoint]:
    """Mark the Pareto frontier: a priced model is on it unless another priced model is at least as
    good and at most as costly, and strictly better in one. Unpriced models cannot be placed."""
    priced = [p for p in points if p.mean_cost_usd is not None]

    def dominated(p: ModelPoint) -> bool:
        assert p.mean_cost_usd is not None
        return any(
            q.quality >= p.quality
            and q.mean_cost_usd <= p.mean_cost_usd
            and (q.quality > p.quality or q.mean_cost_usd < p.mean_cost_usd)
            for q in priced
            if q.mean_cost_usd is not None
        )

    return [p.model_copy(update={"on_frontier": p in priced and not dominated(p)}) for p in points]


async def frontier_report(session: AsyncSession, principal: Principal) -> FrontierReportRead:
    workspace_id = traces_service.workspace_of(principal)
    since = utcnow() - FRONTIER_WINDOW
    usage = await traces_repository.model_usage(session, workspace_id, since=since)
    by_agent: dict[uuid.UUID, list[ModelPoint]] = {}
    for row in usage:
        scored = row.scored > 0 and row.mean_score is not None
        by_agent.setdefault(row.agent_id, []).append(
            ModelPoint(
                model=row.model,
                traces=row.traces,
                quality=round(row.mean_score if scored and row.mean_score is not None else row.ok_share, 6),
                quality_source="score" if scored else "no_error_share",
                mean_cost_usd=None if row.mean_cost_usd is None else round(row.mean_cost_usd, 8),
                on_frontier=False,
            )
        )
    agents = await agents_repository.all_agents(session, workspace_id)
    return FrontierReportRead(
        since=since,
        agents=[
            AgentFrontier(agent_id=a.id, agent_name=a.name, models=_frontier(by_agent[a.id]))
            for a in agents
            if a.id in by_agent
        ],
    )


async def failures(session: AsyncSession, principal: Principal) -> FailuresRead:
    workspace_id = traces_service.workspace_of(principal)
    latest = await scans_repository.latest_scan_per_agent(session, workspace_id, status=ScanStatus.SUCCEEDED)
    agent_of_scan = {scan.id: agent_id for agent_id, scan in latest.items()}
    clusters = await changesets_repository.clusters_of_scans(session, workspace_id, list(agent_of_scan))
    ids = [c.id for c in clusters]
    sizes = await changesets_repository.cluster_sizes(session, ids)
    changesets = await changesets_repository.changesets_of_clusters(session, ids)
    return FailuresRead(
        clusters=[
            FailureClusterRead(
                id=c.id,
                label=c.label,
                cause=c.cause,
                size=sizes.get(c.id, 0),
                share=c.share,
                impact=c.impact,
                dismissed=c.dismissed,
                agent_id=agent_of_scan[c.scan_id],
                scan_id=c.scan_id,
                changesets=[ChangeSetRef.model_validate(cs, from_attributes=True) for cs in changesets[c.id]],
            )
            for c in clusters
        ]
    )
