"""Change set use cases: record a scan's findings, read them, move them through the lifecycle,
curate their clusters, and start experiments and validation runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.errors import ConfigDiffConflictError
from spectral.engine.types import (
    AgentConfig,
    ConfigDiff,
    ProposedChange,
    ScanReport,
    ValidationResult,
    Verdict,
)
from spectral.platform.agents import repository as agents_repository
from spectral.platform.agents import service as agents_service
from spectral.platform.changesets import repository
from spectral.platform.changesets.lifecycle import (
    CHANGESET_LIFECYCLE,
    ChangeSetAction,
    ChangeSetStatus,
    RunStatus,
)
from spectral.platform.changesets.models import ChangeSet, Experiment, FailureCluster, ValidationRun
from spectral.platform.changesets.schemas import (
    ChangeSetRead,
    ClusterMerge,
    ClusterRead,
    ClusterSummary,
    ClusterUpdate,
    ExperimentCreate,
)
from spectral.platform.evaluations import service as evaluations_service
from spectral.platform.identity.principal import Principal
from spectral.platform.samples import service as samples_service
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.errors import BusinessRuleViolationError, ConflictError, NotFoundError
from spectral.platform.shared.pagination import PageParams
from spectral.platform.shared.queue import SCAN_QUEUE, refuse_when_busy
from spectral.platform.shared.unit_of_work import defer_job
from spectral.platform.workspaces.audit import record_audit

RUN_EXPERIMENT_JOB = "run_experiment"
RUN_VALIDATION_JOB = "run_validation"


def _title(change: ProposedChange) -> str:
    return f"{change.candidate.strategy.value}: {change.candidate.diff.describe()}"[:300]


def _expected_impact(change: ProposedChange) -> dict[str, Any]:
    """The figures a reviewer weighs: the validated gain and CI, and the cost as predicted from the
    traces beside the cost measured on the holdout (a prediction that was wrong shows). The measured
    changes are those the guardrails were judged on (None when unknown)."""
    validation = change.validation
    cost = validation.cost_interval if validation else None
    latency = validation.latency_interval if validation else None
    return {
        "objective_gain": change.expected_objective_gain,
        "cost_change_pct": change.expected_cost_change_pct,
        "predicted_cost_change_pct": change.predicted_cost_change_pct,
        "measured_cost_change_pct": cost.change_pct if cost else None,
        "measured_latency_p95_change_pct": latency.change_pct if latency else None,
        "ci_low": validation.ci_low if validation else None,
        "ci_high": validation.ci_high if validation else None,
        "ci_level": validation.ci_level if validation else None,
        "mde": validation.mde if validation else None,
        "validated": validation is not None and not change.candidate.estimated,
    }


async def record_scan_results(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    scan_id: uuid.UUID,
    base_version_number: int | None,
    report: ScanReport,
) -> list[ChangeSet]:
    """Persist a scan's clusters and every change it validated or estimated as a `proposed` change
    set with its verdict: a `reject` stays visible (with its reasons) for a human to weigh, but only an
    explicit override accepts it and auto-apply never touches it."""
    cluster_rows: dict[str, FailureCluster] = {}
    for cluster in report.clusters:
        row = FailureCluster(
            workspace_id=workspace_id,
            scan_id=scan_id,
            engine_cluster_id=cluster.cluster_id,
            label=cluster.label,
            cause=cluster.cause.value,
            signature=[list(pair) for pair in cluster.signature],
            failing_dimensions=list(cluster.failing_dimensions),
            top_terms=list(cluster.top_terms),
            exemplar_trace_ids=list(cluster.exemplar_trace_ids),
            share=cluster.share,
            impact=cluster.impact,
        )
        await repository.add_cluster(session, row, cluster.trace_ids)
        cluster_rows[cluster.cluster_id] = row

    created: list[ChangeSet] = []
    for change in report.changes:
        candidate_config = change.candidate.diff.apply(report.baseline)
        changeset = ChangeSet(
            workspace_id=workspace_id,
            agent_id=agent_id,
            scan_id=scan_id,
            status=ChangeSetStatus.PROPOSED,
            strategy=change.candidate.strategy.value,
            title=_title(change),
            rationale=change.rationale,
            verdict=change.verdict.value,
            estimated=change.candidate.estimated,
            diff=[c.to_dict() for c in change.candidate.diff.changes],
            candidate_config=candidate_config.to_dict(),
            base_version_number=base_version_number,
            evidence_trace_ids=list(change.evidence_trace_ids),
            experiment=change.experiment.to_dict() if change.experiment else None,
            validation=change.validation.to_dict() if change.validation else None,
            expected_impact=_expected_impact(change),
        )
        session.add(changeset)
        await session.flush()
        await repository.link_clusters(
            session,
            changeset.id,
            [cluster_rows[c].id for c in change.candidate.cluster_ids if c in cluster_rows],
        )
        created.append(changeset)
    return created


async def _summaries(
    session: AsyncSession, changesets: Sequence[ChangeSet]
) -> dict[uuid.UUID, list[ClusterSummary]]:
    clusters = await repository.clusters_of(session, [c.id for c in changesets])
    sizes = await repository.cluster_sizes(session, [cl.id for rows in clusters.values() for cl in rows])
    return {
        changeset_id: [
            ClusterSummary(
                id=cl.id,
                label=cl.label,
                cause=cl.cause,
                size=sizes.get(cl.id, 0),
                share=cl.share,
                impact=cl.impact,
                dismissed=cl.dismissed,
            )
            for cl in rows
        ]
        for changeset_id, rows in clusters.items()
    }


def _view(changeset: ChangeSet, clusters: list[ClusterSummary]) -> ChangeSetRead:
    data = changeset.model_dump()
    data["created_at"] = as_utc(changeset.created_at)
    data["updated_at"] = as_utc(changeset.updated_at)
    return ChangeSetRead(**data, clusters=clusters)


async def read_changeset(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID
) -> ChangeSetRead:
    changeset = await repository.get_changeset(session, workspace_id, changeset_id)
    return _view(changeset, (await _summaries(session, [changeset]))[changeset.id])


async def list_changesets(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageParams,
    *,
    agent_id: uuid.UUID | None,
    status: ChangeSetStatus | None,
    scan_id: uuid.UUID | None,
    verdict: Verdict | None = None,
) -> tuple[list[ChangeSetRead], int]:
    rows, total = await repository.list_changesets(
        session, workspace_id, page, agent_id=agent_id, status=status, scan_id=scan_id, verdict=verdict
    )
    summaries = await _summaries(session, rows)
    return [_view(row, summaries[row.id]) for row in rows], total


async def _transition(
    session: AsyncSession, principal: Principal, changeset: ChangeSet, action: ChangeSetAction, **audit: Any
) -> None:
    before = changeset.status
    changeset.status = CHANGESET_LIFECYCLE.next_status(changeset.id, changeset.status, action)
    changeset.decided_by = principal.actor
    changeset.updated_at = utcnow()
    session.add(changeset)
    await session.flush()
    await record_audit(
        session,
        principal,
        changeset.workspace_id,
        action=f"changeset.{action.value}",
        resource_type="changeset",
        resource_id=str(changeset.id),
        before={"status": before},
        after={"status": changeset.status, **audit},
    )


async def accept(
    session: AsyncSession,
    principal: Principal,
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    *,
    override: bool = False,
) -> ChangeSetRead:
    """Promote the candidate: the diff applied to the agent's *current* config becomes a new
    version, active at once (agents read it from their config); the managed templates' heads move
    only at `apply`. A diff whose `before` values no longer match is a 409: the config
    moved on since the scan, and silently overwriting that would lose someone's change. A change set
    validation rejected is accepted only with `override` (400 otherwise); the audit entry records it."""
    changeset = await repository.lock_changeset(session, workspace_id, changeset_id)
    CHANGESET_LIFECYCLE.next_status(changeset.id, changeset.status, ChangeSetAction.ACCEPT)
    overriding = changeset.verdict == Verdict.REJECT.value
    if overriding and not override:
        reason = (changeset.validation or {}).get("verdict_reason") or "no reason recorded"
        raise BusinessRuleViolationError(
            f"Change set {changeset.id} was rejected by validation ({reason}); "
            'accepting it needs {"override": true}'
        )
    agent = await agents_repository.get_agent(session, workspace_id, changeset.agent_id)
    if agent is None:
        raise NotFoundError.for_resource("Agent", changeset.agent_id)
    current = await agents_service.active_config(session, workspace_id, changeset.agent_id)
    try:
        candidate = ConfigDiff.from_dict({"changes": changeset.diff}).apply(current)
    except ConfigDiffConflictError as exc:
        raise ConflictError(
            f"The agent's config changed since change set {changeset.id} was proposed: {exc}"
        ) from exc
    version = await agents_service.create_version_from_config(
        session,
        principal,
        changeset.agent_id,
        candidate,
        note=f"change set {changeset.id}: {changeset.title}"[:2000],
    )
    changeset.previous_version_number = agent.active_version_number
    await agents_service.promote(session, principal, changeset.agent_id, version.number)
    changeset.promoted_version_number = version.number
    audit: dict[str, Any] = {"promoted_version": version.number}
    if overriding:
        audit |= {"override": True, "verdict": changeset.verdict}
    await _transition(session, principal, changeset, ChangeSetAction.ACCEPT, **audit)
    return await read_changeset(session, workspace_id, changeset_id)


async def apply(
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID, changeset_id: uuid.UUID
) -> ChangeSetRead:
    """Write the changed templates as new managed template versions (the heads users edit)."""
    changeset = await repository.lock_changeset(session, workspace_id, changeset_id)
    CHANGESET_LIFECYCLE.next_status(changeset.id, changeset.status, ChangeSetAction.APPLY)
    diff = ConfigDiff.from_dict({"changes": changeset.diff})
    written: dict[str, Any] = {}
    for change in diff.changes:
        if change.kind.value == "edit_template" and change.key and change.after is not None:
            version = await agents_service.save_template_text(
                session,
                principal,
                changeset.agent_id,
                change.key,
                change.after,
                source="changeset",
            )
            written[change.key] = {"version": version.version, "previous_text": change.before}
    if written and changeset.promoted_version_number is not None:
        await agents_service.link_template_versions(
            session,
            principal,
            changeset.agent_id,
            changeset.promoted_version_number,
            {name: entry["version"] for name, entry in written.items()},
        )
    changeset.applied_templates = written
    await _transition(session, principal, changeset, ChangeSetAction.APPLY, templates=sorted(written))
    return await read_changeset(session, workspace_id, changeset_id)


async def reject(
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID, changeset_id: uuid.UUID, reason: str
) -> ChangeSetRead:
    changeset = await repository.lock_changeset(session, workspace_id, changeset_id)
    changeset.reject_reason = reason
    await _transition(session, principal, changeset, ChangeSetAction.REJECT, reason=reason)
    return await read_changeset(session, workspace_id, changeset_id)


async def rollback(
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID, changeset_id: uuid.UUID
) -> ChangeSetRead:
    """Re-activate the config version that was active before, and restore the template heads."""
    changeset = await repository.lock_changeset(session, workspace_id, changeset_id)
    CHANGESET_LIFECYCLE.next_status(changeset.id, changeset.status, ChangeSetAction.ROLLBACK)
    if changeset.previous_version_number is not None:
        await agents_service.promote(
            session, principal, changeset.agent_id, changeset.previous_version_number
        )
    for name, written in (changeset.applied_templates or {}).items():
        if written.get("previous_text") is not None:
            await agents_service.save_template_text(
                session,
                principal,
                changeset.agent_id,
                name,
                written["previous_text"],
                source="changeset_rollback",
            )
    await _transition(
        session,
        principal,
        changeset,
        ChangeSetAction.ROLLBACK,
        restored_version=changeset.previous_version_number,
    )
    return await read_changeset(session, workspace_id, changeset_id)


# ---------------------------------------------------------------------------------------------
# Clusters


async def _cluster_view(session: AsyncSession, cluster: FailureCluster) -> ClusterRead:
    trace_ids = await repository.cluster_trace_ids(session, cluster.id)
    return ClusterRead(
        id=cluster.id,
        scan_id=cluster.scan_id,
        label=cluster.label,
        cause=cluster.cause,
        size=len(trace_ids),
        share=cluster.share,
        impact=cluster.impact,
        dismissed=cluster.dismissed,
        signature={str(k): str(v) for k, v in cluster.signature},
        failing_dimensions=cluster.failing_dimensions,
        top_terms=cluster.top_terms,
        exemplar_trace_ids=cluster.exemplar_trace_ids,
        trace_ids=trace_ids,
        merged_into_id=cluster.merged_into_id,
        created_at=as_utc(cluster.created_at),
    )


async def list_clusters(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID
) -> list[ClusterSummary]:
    changeset = await repository.get_changeset(session, workspace_id, changeset_id)
    return (await _summaries(session, [changeset]))[changeset.id]


async def read_cluster(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID, cluster_id: uuid.UUID
) -> ClusterRead:
    cluster = await repository.get_changeset_cluster(session, workspace_id, changeset_id, cluster_id)
    return await _cluster_view(session, cluster)


async def update_cluster(
    session: AsyncSession,
    principal: Principal,
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    cluster_id: uuid.UUID,
    body: ClusterUpdate,
) -> ClusterRead:
    cluster = await repository.get_changeset_cluster(session, workspace_id, changeset_id, cluster_id)
    before = {"label": cluster.label, "dismissed": cluster.dismissed}
    if body.label is not None:
        cluster.label = body.label
    if body.dismissed is not None:
        cluster.dismissed = body.dismissed
    session.add(cluster)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="cluster.update",
        resource_type="cluster",
        resource_id=str(cluster.id),
        before=before,
        after={"label": cluster.label, "dismissed": cluster.dismissed},
    )
    return await _cluster_view(session, cluster)


async def merge_clusters(
    session: AsyncSession,
    principal: Principal,
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    body: ClusterMerge,
) -> ClusterRead:
    """The first cluster absorbs the others' traces; the others stay, marked merged, for the record."""
    clusters = [
        await repository.get_changeset_cluster(session, workspace_id, changeset_id, cid)
        for cid in body.cluster_ids
    ]
    survivor, absorbed = clusters[0], clusters[1:]
    await repository.move_traces(session, [c.id for c in absorbed], survivor.id)
    survivor.impact = sum(c.impact for c in clusters)
    survivor.share = sum(c.share for c in clusters)
    for cluster in absorbed:
        cluster.merged_into_id = survivor.id
        session.add(cluster)
    session.add(survivor)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="cluster.merge",
        resource_type="cluster",
        resource_id=str(survivor.id),
        after={"merged": [str(c.id) for c in absorbed]},
    )
    return await _cluster_view(session, survivor)


async def move_trace(
    session: AsyncSession,
    principal: Principal,
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    cluster_id: uuid.UUID,
    trace_id: str,
    to_cluster_id: uuid.UUID,
) -> ClusterRead:
    source = await repository.get_changeset_cluster(session, workspace_id, changeset_id, cluster_id)
    target = await repository.get_changeset_cluster(session, workspace_id, changeset_id, to_cluster_id)
    if source.id == target.id:
        raise BusinessRuleViolationError("The trace is already in that cluster")
    if trace_id not in await repository.cluster_trace_ids(session, source.id):
        raise BusinessRuleViolationError(f"Trace {trace_id} is not in cluster {source.id}")
    await repository.move_traces(session, [source.id], target.id, [trace_id])
    await record_audit(
        session,
        principal,
        workspace_id,
        action="cluster.move_trace",
        resource_type="cluster",
        resource_id=str(source.id),
        after={"trace_id": trace_id, "to_cluster_id": str(target.id)},
    )
    return await _cluster_view(session, target)


# ---------------------------------------------------------------------------------------------
# Experiments and validation runs: rows written here, run by `changesets.jobs`


async def start_experiment(
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID, body: ExperimentCreate
) -> Experiment:
    await agents_service.active_config(session, workspace_id, body.agent_id)
    await evaluations_service.load_rubric(session, workspace_id, body.rubric_id)
    _, objective_rubric = await evaluations_service.load_objective(session, workspace_id, body.objective_id)
    if objective_rubric != body.rubric_id:
        raise BusinessRuleViolationError(
            f"Objective {body.objective_id} is defined over rubric {objective_rubric}, not {body.rubric_id}"
        )
    if not await samples_service.load_replay_inputs(session, workspace_id, body.sample_set_id):
        raise BusinessRuleViolationError(f"Sample set {body.sample_set_id} has no items to experiment on")
    if body.changeset_id is not None:
        changeset = await repository.get_changeset(session, workspace_id, body.changeset_id)
        if changeset.agent_id != body.agent_id:
            raise BusinessRuleViolationError(f"Change set {changeset.id} belongs to another agent")
        candidate = changeset.candidate_config
    else:
        assert body.candidate_config is not None
        candidate = AgentConfig.from_dict(body.candidate_config.model_dump(exclude_none=True)).to_dict()
    refuse_when_busy("experiments", await repository.count_runs(session, Experiment, workspace_id))
    experiment = Experiment(
        workspace_id=workspace_id,
        agent_id=body.agent_id,
        changeset_id=body.changeset_id,
        sample_set_id=body.sample_set_id,
        rubric_id=body.rubric_id,
        objective_id=body.objective_id,
        candidate_config=candidate,
        status=RunStatus.QUEUED,
        created_by=principal.actor,
    )
    session.add(experiment)
    await session.flush()
    defer_job(
        session, RUN_EXPERIMENT_JOB, str(experiment.id), queue=SCAN_QUEUE, experiment_id=str(experiment.id)
    )
    await record_audit(
        session,
        principal,
        workspace_id,
        action="experiment.start",
        resource_type="experiment",
        resource_id=str(experiment.id),
    )
    return experiment


async def queued_runs(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """The workspace's experiments and validation runs waiting in the queue."""
    return sum(
        [
            await repository.count_runs(session, model, workspace_id, (RunStatus.QUEUED,))
            for model in (Experiment, ValidationRun)
        ]
    )


async def get_experiment(
    session: AsyncSession, workspace_id: uuid.UUID, experiment_id: uuid.UUID
) -> Experiment:
    return await repository.get_experiment(session, workspace_id, experiment_id)


async def list_experiments(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Experiment], int]:
    return await repository.list_experiments(session, workspace_id, page)


async def start_validation(
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID, changeset_id: uuid.UUID
) -> ValidationRun:
    changeset = await repository.get_changeset(session, workspace_id, changeset_id)
    if changeset.scan_id is None:
        raise BusinessRuleViolationError(
            f"Change set {changeset.id} has no scan, so no holdout to validate on"
        )
    refuse_when_busy("validation runs", await repository.count_runs(session, ValidationRun, workspace_id))
    run = ValidationRun(
        workspace_id=workspace_id,
        changeset_id=changeset.id,
        status=RunStatus.QUEUED,
        created_by=principal.actor,
    )
    session.add(run)
    await session.flush()
    defer_job(session, RUN_VALIDATION_JOB, str(run.id), queue=SCAN_QUEUE, run_id=str(run.id))
    await record_audit(
        session,
        principal,
        workspace_id,
        action="changeset.validate",
        resource_type="changeset",
        resource_id=str(changeset.id),
        after={"validation_run_id": str(run.id)},
    )
    return run


async def get_validation_run(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID, run_id: uuid.UUID
) -> ValidationRun:
    return await repository.get_validation_run(session, workspace_id, changeset_id, run_id)


async def list_validation_runs(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[ValidationRun], int]:
    await repository.get_changeset(session, workspace_id, changeset_id)
    return await repository.list_validation_runs(session, workspace_id, changeset_id, page)


async def record_validation(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID, result: ValidationResult
) -> None:
    """A change set still under review shows its latest validation (and the verdict it gives)."""
    changeset = await repository.get_changeset(session, workspace_id, changeset_id)
    if changeset.status != ChangeSetStatus.PROPOSED:
        return
    changeset.validation = result.to_dict()
    changeset.verdict = result.verdict.value
    changeset.expected_impact = {
        **changeset.expected_impact,
        "objective_gain": result.mean_difference,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "ci_level": result.ci_level,
        "mde": result.mde,
        "validated": True,
    }
    changeset.updated_at = utcnow()
    session.add(changeset)
    await session.flush()


async def targeted_cluster_ids(session: AsyncSession, changeset: ChangeSet) -> list[str]:
    """The engine ids of the clusters the change set addresses, as curated."""
    clusters = await repository.clusters_of(session, [changeset.id])
    return [cluster.engine_cluster_id for cluster in clusters[changeset.id]]
