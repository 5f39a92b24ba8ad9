"""All SQL of the change sets context, scoped to a workspace."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.types import Verdict
from spectral.platform.changesets.lifecycle import ChangeSetStatus, RunStatus
from spectral.platform.changesets.models import (
    ChangeSet,
    ChangeSetCluster,
    ClusterTrace,
    Experiment,
    FailureCluster,
    ValidationRun,
)
from spectral.platform.shared.errors import NotFoundError
from spectral.platform.shared.pagination import PageParams, fetch_page

Row = TypeVar("Row", ChangeSet, Experiment, ValidationRun)


async def _get(
    session: AsyncSession, model: type[Row], workspace_id: uuid.UUID, row_id: uuid.UUID, kind: str
) -> Row:
    row = await session.get(model, row_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFoundError.for_resource(kind, row_id)
    return row


async def get_changeset(session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID) -> ChangeSet:
    return await _get(session, ChangeSet, workspace_id, changeset_id, "Change set")


async def lock_changeset(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID
) -> ChangeSet:
    """The change set row locked until the transaction ends (`FOR UPDATE` on PostgreSQL; on SQLite
    the writing transaction already holds the database's write lock). Every status change decides
    under this lock, on the row as committed, so two concurrent accepts cannot both promote."""
    row = (
        await session.exec(
            select(ChangeSet)
            .where(ChangeSet.id == changeset_id, ChangeSet.workspace_id == workspace_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise NotFoundError.for_resource("Change set", changeset_id)
    return row


async def list_changesets(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageParams,
    *,
    agent_id: uuid.UUID | None = None,
    status: str | None = None,
    scan_id: uuid.UUID | None = None,
    verdict: str | None = None,
) -> tuple[Sequence[ChangeSet], int]:
    filters: list[Any] = [ChangeSet.workspace_id == workspace_id]
    if verdict is not None:
        filters.append(ChangeSet.verdict == verdict)
    if agent_id is not None:
        filters.append(ChangeSet.agent_id == agent_id)
    if status is not None:
        filters.append(ChangeSet.status == status)
    if scan_id is not None:
        filters.append(ChangeSet.scan_id == scan_id)
    return await fetch_page(
        session,
        select(ChangeSet).where(*filters).order_by(col(ChangeSet.created_at).desc(), col(ChangeSet.id)),
        page,
    )


async def changesets_of_scan(session: AsyncSession, scan_id: uuid.UUID) -> Sequence[ChangeSet]:
    rows = await session.exec(
        select(ChangeSet).where(ChangeSet.scan_id == scan_id).order_by(col(ChangeSet.created_at))
    )
    return rows.all()


async def add_cluster(session: AsyncSession, cluster: FailureCluster, trace_ids: Iterable[str]) -> None:
    session.add(cluster)
    await session.flush()
    session.add_all(
        ClusterTrace(cluster_id=cluster.id, trace_id=trace_id) for trace_id in dict.fromkeys(trace_ids)
    )
    await session.flush()


async def link_clusters(
    session: AsyncSession, changeset_id: uuid.UUID, cluster_ids: Iterable[uuid.UUID]
) -> None:
    session.add_all(
        ChangeSetCluster(changeset_id=changeset_id, cluster_id=cid) for cid in dict.fromkeys(cluster_ids)
    )
    await session.flush()


async def clusters_of(
    session: AsyncSession, changeset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[FailureCluster]]:
    """The live (not merged away) clusters each change set addresses, in one query."""
    if not changeset_ids:
        return {}
    rows = await session.exec(
        select(ChangeSetCluster.changeset_id, FailureCluster)
        .join(FailureCluster, col(FailureCluster.id) == ChangeSetCluster.cluster_id)
        .where(
            col(ChangeSetCluster.changeset_id).in_(changeset_ids),
            col(FailureCluster.merged_into_id).is_(None),
        )
        .order_by(col(FailureCluster.impact).desc(), col(FailureCluster.id))
    )
    grouped: dict[uuid.UUID, list[FailureCluster]] = {cid: [] for cid in changeset_ids}
    for changeset_id, cluster in rows.all():
        grouped[changeset_id].append(cluster)
    return grouped


async def cluster_sizes(session: AsyncSession, cluster_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not cluster_ids:
        return {}
    rows = await session.exec(
        select(ClusterTrace.cluster_id, sa.func.count())
        .where(col(ClusterTrace.cluster_id).in_(cluster_ids))
        .group_by(col(ClusterTrace.cluster_id))
    )
    return {cluster_id: int(count) for cluster_id, count in rows.all()}


async def get_changeset_cluster(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID, cluster_id: uuid.UUID
) -> FailureCluster:
    row = (
        await session.exec(
            select(FailureCluster)
            .join(ChangeSetCluster, col(ChangeSetCluster.cluster_id) == FailureCluster.id)
            .where(
                ChangeSetCluster.changeset_id == changeset_id,
                FailureCluster.id == cluster_id,
                FailureCluster.workspace_id == workspace_id,
                col(FailureCluster.merged_into_id).is_(None),
            )
        )
    ).first()
    if row is None:
        raise NotFoundError.for_resource("Cluster", cluster_id)
    return row


async def cluster_trace_ids(session: AsyncSession, cluster_id: uuid.UUID) -> list[str]:
    rows = await session.exec(
        select(ClusterTrace.trace_id)
        .where(ClusterTrace.cluster_id == cluster_id)
        .order_by(col(ClusterTrace.trace_id))
    )
    return list(rows.all())


async def move_traces(
    session: AsyncSession,
    from_cluster_ids: Sequence[uuid.UUID],
    to_cluster_id: uuid.UUID,
    trace_ids: Sequence[str] | None = None,
) -> int:
    """Re-home traces (all of the source clusters', or just `trace_ids`), skipping ones already there."""
    already = set(await cluster_trace_ids(session, to_cluster_id))
    query = select(ClusterTrace).where(col(ClusterTrace.cluster_id).in_(from_cluster_ids))
    if trace_ids is not None:
        query = query.where(col(ClusterTrace.trace_id).in_(trace_ids))
    moved = 0
    for row in (await session.exec(query)).all():
        await session.delete(row)
        if row.trace_id not in already:
            session.add(ClusterTrace(cluster_id=to_cluster_id, trace_id=row.trace_id))
            already.add(row.trace_id)
            moved += 1
    await session.flush()
    return moved


async def get_experiment(
    session: AsyncSession, workspace_id: uuid.UUID, experiment_id: uuid.UUID
) -> Experiment:
    return await _get(session, Experiment, workspace_id, experiment_id, "Experiment")


async def list_experiments(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Experiment], int]:
    return await fetch_page(
        session,
        select(Experiment)
        .where(*[Experiment.workspace_id == workspace_id])
        .order_by(col(Experiment.created_at).desc(), col(Experiment.id)),
        page,
    )


async def load_run(session: AsyncSession, model: type[Row], run_id: uuid.UUID) -> Row | None:
    """The worker's read of an experiment or validation run: by id alone (a job has no principal)."""
    return await session.get(model, run_id)


async def get_validation_run(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID, run_id: uuid.UUID
) -> ValidationRun:
    run = await _get(session, ValidationRun, workspace_id, run_id, "Validation run")
    if run.changeset_id != changeset_id:
        raise NotFoundError.for_resource("Validation run", run_id)
    return run


async def list_validation_runs(
    session: AsyncSession, workspace_id: uuid.UUID, changeset_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[ValidationRun], int]:
    filters = [ValidationRun.workspace_id == workspace_id, ValidationRun.changeset_id == changeset_id]
    return await fetch_page(
        session,
        select(ValidationRun)
        .where(*filters)
        .order_by(col(ValidationRun.created_at).desc(), col(ValidationRun.id)),
        page,
    )


async def count_runs(
    session: AsyncSession,
    model: type[Experiment] | type[ValidationRun],
    workspace_id: uuid.UUID,
    statuses: Sequence[RunStatus] = (RunStatus.QUEUED, RunStatus.RUNNING),
) -> int:
    return int(
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(model)
            .where(col(model.workspace_id) == workspace_id, col(model.status).in_(statuses))
        )
        or 0
    )


async def claim_run(
    session: AsyncSession, model: type[Experiment] | type[ValidationRun], run_id: uuid.UUID
) -> bool:
    """queued -> running, atomically (a redelivered job finds the run taken)."""
    result = await session.exec(
        sa.update(model)
        .where(col(model.id) == run_id, col(model.status) == RunStatus.QUEUED)
        .values(status=RunStatus.RUNNING)
    )
    return bool(result.rowcount)


async def status_counts(
    session: AsyncSession, workspace_id: uuid.UUID, *, created_since: datetime | None = None
) -> dict[str, int]:
    """Change sets per status; with `created_since`, only those proposed since then."""
    filters: list[Any] = [ChangeSet.workspace_id == workspace_id]
    if created_since is not None:
        filters.append(col(ChangeSet.created_at) >= created_since)
    rows = await session.exec(
        select(ChangeSet.status, sa.func.count()).where(*filters).group_by(col(ChangeSet.status))
    )
    return {status: int(count) for status, count in rows.all()}


@dataclass(frozen=True, slots=True)
class AwaitingReview:
    proposed: int
    recommended: int


async def awaiting_review_by_agent(
    session: AsyncSession, workspace_id: uuid.UUID
) -> dict[uuid.UUID, AwaitingReview]:
    """Per agent: proposed change sets, and how many of them the scan recommends."""
    recommended = sa.func.sum(sa.case((col(ChangeSet.verdict) == Verdict.RECOMMEND.value, 1), else_=0))
    rows = await session.exec(
        select(ChangeSet.agent_id, sa.func.count(), recommended)
        .where(ChangeSet.workspace_id == workspace_id, ChangeSet.status == ChangeSetStatus.PROPOSED)
        .group_by(col(ChangeSet.agent_id))
    )
    return {
        agent_id: AwaitingReview(proposed=int(count), recommended=int(rec or 0))
        for agent_id, count, rec in rows.all()
    }


async def recommended_waiting(session: AsyncSession, workspace_id: uuid.UUID) -> Sequence[ChangeSet]:
    """Proposed change sets the scan recommends, oldest first: the longest-waiting comes first."""
    rows = await session.exec(
        select(ChangeSet)
        .where(
            ChangeSet.workspace_id == workspace_id,
            ChangeSet.status == ChangeSetStatus.PROPOSED,
            ChangeSet.verdict == Verdict.RECOMMEND.value,
        )
        .order_by(col(ChangeSet.created_at), col(ChangeSet.id))
    )
    return rows.all()


async def clusters_of_scans(
    session: AsyncSession, workspace_id: uuid.UUID, scan_ids: Sequence[uuid.UUID]
) -> list[FailureCluster]:
    """The live (not merged away, not dismissed) clusters the scans found, largest impact first."""
    if not scan_ids:
        return []
    rows = await session.exec(
        select(FailureCluster)
        .where(
            FailureCluster.workspace_id == workspace_id,
            col(FailureCluster.scan_id).in_(scan_ids),
            col(FailureCluster.merged_into_id).is_(None),
            FailureCluster.dismissed == False,  # noqa: E712
        )
        .order_by(col(FailureCluster.impact).desc(), col(FailureCluster.id))
    )
    return list(rows.all())


async def changesets_of_clusters(
    session: AsyncSession, cluster_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ChangeSet]]:
    """The change sets addressing each cluster, in one query."""
    if not cluster_ids:
        return {}
    rows = await session.exec(
        select(ChangeSetCluster.cluster_id, ChangeSet)
        .join(ChangeSet, col(ChangeSet.id) == ChangeSetCluster.changeset_id)
        .where(col(ChangeSetCluster.cluster_id).in_(cluster_ids))
        .order_by(col(ChangeSet.created_at), col(ChangeSet.id))
    )
    grouped: dict[uuid.UUID, list[ChangeSet]] = {cid: [] for cid in cluster_ids}
    for cluster_id, changeset in rows.all():
        grouped[cluster_id].append(changeset)
    return grouped
