"""The dashboard's three reads: the control plane (each agent now), the morning briefing (what
happened since a time) and the workflow overview (how far the workspace is along the loop).
Like `health`, it sits above every context it reads and uses their repositories' queries."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.agents import repository as agents_repository
from spectral.platform.changesets import repository as changesets_repository
from spectral.platform.changesets.lifecycle import ChangeSetStatus
from spectral.platform.dashboard.schemas import (
    AgentControl,
    AgentQualityBrief,
    BriefingChangeSets,
    BriefingScans,
    BriefingTraces,
    ClusterBrief,
    ControlPlaneRead,
    LatestScan,
    MissingStep,
    MorningBriefingRead,
    ReviewQueue,
    StageCounts,
    TrafficWindow,
    WorkflowOverviewRead,
)
from spectral.platform.evaluations import repository as evaluations_repository
from spectral.platform.evaluations.quality import quality_by_agent
from spectral.platform.identity.principal import Principal
from spectral.platform.samples import repository as samples_repository
from spectral.platform.scans import repository as scans_repository
from spectral.platform.scans.lifecycle import ScanStatus
from spectral.platform.scans.models import Scan
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.errors import BusinessRuleViolationError
from spectral.platform.shared.pagination import PageParams
from spectral.platform.traces import repository as traces_repository
from spectral.platform.traces import service as traces_service
from spectral.platform.workspaces import repository as workspaces_repository
from spectral.platform.workspaces import service as workspaces_service

TOP_CLUSTERS = 5
_NO_TRAFFIC = traces_repository.TraceActivity(traces=0, errors=0, cost_usd=0.0, last_received_at=None)
_NO_REVIEW = changesets_repository.AwaitingReview(proposed=0, recommended=0)
# The change set decisions the briefing counts, by their audit action (a status alone would miss
# a change set accepted and then applied within the same window).
_DECISIONS = {
    "accepted": "changeset.accept",
    "applied": "changeset.apply",
    "rolled_back": "changeset.rollback",
}


def _latest_scan(scan: Scan | None) -> LatestScan | None:
    if scan is None:
        return None
    recommended = (scan.summary or {}).get("n_recommended")
    return LatestScan(
        id=scan.id,
        status=ScanStatus(scan.status),
        finished_at=scan.finished_at,
        n_recommended=None if recommended is None else int(recommended),
    )


async def control_plane(session: AsyncSession, principal: Principal) -> ControlPlaneRead:
    workspace_id = traces_service.workspace_of(principal)
    now = utcnow()
    autonomy = await workspaces_service.get_autonomy(session, principal)
    agents = await agents_repository.all_agents(session, workspace_id)
    traffic = await traces_repository.activity_by_agent(
        session, workspace_id, since=now - timedelta(hours=24)
    )
    scans = await scans_repository.latest_scan_per_agent(session, workspace_id)
    review = await changesets_repository.awaiting_review_by_agent(session, workspace_id)
    quality = await quality_by_agent(session, workspace_id, now - timedelta(hours=24))
    rows = []
    for agent in agents:
        window = traffic.get(agent.id, _NO_TRAFFIC)
        queue = review.get(agent.id, _NO_REVIEW)
        rows.append(
            AgentControl(
                agent_id=agent.id,
                name=agent.name,
                slug=agent.slug,
                active_version_number=agent.active_version_number,
                last_24h=TrafficWindow(
                    traces=window.traces, errors=window.errors, cost_usd=round(window.cost_usd, 6)
                ),
                latest_scan=_latest_scan(scans.get(agent.id)),
                awaiting_review=ReviewQueue(proposed=queue.proposed, recommended=queue.recommended),
                quality_24h=quality.get(agent.id),
            )
        )
    return ControlPlaneRead(autonomy_level=autonomy.level, generated_at=now, agents=rows)


async def _top_clusters(session: AsyncSession, workspace_id: uuid.UUID) -> list[ClusterBrief]:
    latest = await scans_repository.latest_scan_per_agent(session, workspace_id, status=ScanStatus.SUCCEEDED)
    agent_of_scan = {scan.id: agent_id for agent_id, scan in latest.items()}
    clusters = await changesets_repository.clusters_of_scans(session, workspace_id, list(agent_of_scan))
    top = clusters[:TOP_CLUSTERS]
    sizes = await changesets_repository.cluster_sizes(session, [c.id for c in top])
    return [
        ClusterBrief(
            agent_id=agent_of_scan[c.scan_id],
            scan_id=c.scan_id,
            cluster_id=c.id,
            label=c.label,
            cause=c.cause,
            size=sizes.get(c.id, 0),
            impact=c.impact,
        )
        for c in top
    ]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _lines(
    traces: BriefingTraces, scans: BriefingScans, changesets: BriefingChangeSets, clusters: list[ClusterBrief]
) -> list[str]:
    if traces.received == 0:
        lines = ["No traces arrived in this period."]
    else:
        share = 100.0 * traces.failing / traces.received
        lines = [f"{_plural(traces.received, 'trace')} arrived; {traces.failing} failed ({share:.0f}%)."]
    if scans.succeeded or scans.failed:
        lines.append(f"{_plural(scans.succeeded, 'scan')} finished and {scans.failed} failed.")
    else:
        lines.append("No scan finished in this period.")
    if changesets.proposed:
        lines.append(f"{_plural(changesets.proposed, 'change set')} proposed.")
    decided = [
        f"{count} {label.replace('_', ' ')}"
        for label, count in (
            ("accepted", changesets.accepted),
            ("applied", changesets.applied),
            ("rolled_back", changesets.rolled_back),
        )
        if count
    ]
    if decided:
        lines.append(f"Change sets {', '.join(decided)}.")
    if clusters:
        worst = clusters[0]
        lines.append(
            f"Biggest failure: {worst.label} ({worst.cause}, {_plural(worst.size, 'trace')}, "
            f"impact {worst.impact:.2f})."
        )
    return lines


async def morning_briefing(
    session: AsyncSession, principal: Principal, since: datetime | None
) -> MorningBriefingRead:
    workspace_id = traces_service.workspace_of(principal)
    until = utcnow()
    start = until - timedelta(hours=24) if since is None else as_utc(since)
    if start > until:
        raise BusinessRuleViolationError("`since` must not be in the future")
    activity = await traces_repository.activity_by_agent(session, workspace_id, since=start)
    finished = await scans_repository.status_counts(session, workspace_id, finished_since=start)
    proposed = await changesets_repository.status_counts(session, workspace_id, created_since=start)
    decisions = await workspaces_repository.action_counts_since(
        session, workspace_id, list(_DECISIONS.values()), start
    )
    traces = BriefingTraces(
        received=sum(a.traces for a in activity.values()), failing=sum(a.errors for a in activity.values())
    )
    scans = BriefingScans(
        succeeded=finished.get(ScanStatus.SUCCEEDED, 0), failed=finished.get(ScanStatus.FAILED, 0)
    )
    changesets = BriefingChangeSets(
        proposed=sum(proposed.values()),
        **{label: decisions.get(action, 0) for label, action in _DECISIONS.items()},
    )
    clusters = await _top_clusters(session, workspace_id)
    by_agent = await quality_by_agent(session, workspace_id, start)
    quality = [
        AgentQualityBrief(agent_id=agent.id, name=agent.name, slug=agent.slug, quality=by_agent[agent.id])
        for agent in await agents_repository.all_agents(session, workspace_id)
        if agent.id in by_agent
    ]
    return MorningBriefingRead(
        since=start,
        until=until,
        traces=traces,
        scans=scans,
        changesets=changesets,
        top_clusters=clusters,
        quality=quality,
        lines=_lines(traces, scans, changesets, clusters) + _quality_lines(quality),
    )


def _quality_lines(quality: list[AgentQualityBrief]) -> list[str]:
    lines = []
    for brief in quality:
        q = brief.quality
        if q.mean_quality is None:
            continue
        line = f"Online quality of {brief.slug}: {q.mean_quality:.2f} over {_plural(q.scored_traces, 'scored trace')}"
        if q.failing_dimensions:
            worst = q.failing_dimensions[0]
            line += f"; most failed: {worst.dimension} ({worst.failed} of {worst.scored})"
        lines.append(line + ".")
    return lines


def _next_steps(counts: StageCounts, recommended_waiting: int) -> list[MissingStep]:
    wanted: list[tuple[bool, MissingStep]] = [
        (counts.agents == 0, MissingStep(key="create_agent", message="Create an agent to optimise.")),
        (
            counts.traces == 0,
            MissingStep(key="send_traces", message="Send your agent's traces (OTLP or POST /traces)."),
        ),
        (
            counts.rubrics == 0,
            MissingStep(key="create_rubric", message="Create a rubric: how a good answer is scored."),
        ),
        (
            counts.objectives == 0,
            MissingStep(
                key="create_objective", message="Create an objective weighing quality, cost and latency."
            ),
        ),
        (
            counts.agents > counts.agents_with_replay_url,
            MissingStep(
                key="set_replay_url",
                message="Give each agent a replay_url so candidate changes can be tested, not only estimated.",
            ),
        ),
        (
            sum(counts.scans.values()) == 0,
            MissingStep(key="run_scan", message="Run a first optimization scan."),
        ),
    ]
    steps = [step for missing, step in wanted if missing]
    if recommended_waiting:
        steps.append(
            MissingStep(
                key="review_changesets",
                message=f"Review {_plural(recommended_waiting, 'recommended change set')} waiting for a decision.",
            )
        )
    return steps


async def workflow_overview(session: AsyncSession, principal: Principal) -> WorkflowOverviewRead:
    workspace_id = traces_service.workspace_of(principal)
    agents = await agents_repository.all_agents(session, workspace_id)
    rubrics, objectives = await evaluations_repository.counts(session, workspace_id)
    _, sample_sets = await samples_repository.list_sets(session, workspace_id, PageParams(limit=1))
    activity = await traces_repository.activity_by_agent(session, workspace_id)
    scans = await scans_repository.status_counts(session, workspace_id)
    changesets = await changesets_repository.status_counts(session, workspace_id)
    counts = StageCounts(
        agents=len(agents),
        agents_with_replay_url=sum(1 for a in agents if a.replay_url),
        rubrics=rubrics,
        objectives=objectives,
        sample_sets=sample_sets,
        traces=sum(a.traces for a in activity.values()),
        scans={status.value: scans.get(status, 0) for status in ScanStatus},
        changesets={status.value: changesets.get(status, 0) for status in ChangeSetStatus},
    )
    review = await changesets_repository.awaiting_review_by_agent(session, workspace_id)
    recommended = sum(queue.recommended for queue in review.values())
    return WorkflowOverviewRead(counts=counts, next_steps=_next_steps(counts, recommended))
