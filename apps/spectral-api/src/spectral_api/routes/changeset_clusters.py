"""The failure clusters behind a change set, and their curation."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from spectral.platform.changesets import service
from spectral.platform.changesets.schemas import (
    ClusterMerge,
    ClusterRead,
    ClusterSummary,
    ClusterUpdate,
    TraceMove,
)
from spectral.platform.shared.pagination import Page
from spectral_api.auth import WorkspaceRead, WorkspaceWrite
from spectral_api.dependencies import DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/workspaces/{workspace_id}/changesets/{changeset_id}/clusters", tags=["Changeset Clusters"]
)


@router.get(
    "", responses=problem_responses(401, 403, 404, 422), summary="The clusters a change set addresses"
)
async def list_clusters(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
    page: Pagination,
) -> Page[ClusterSummary]:
    # A change set addresses a handful of clusters: they are read whole and paged here.
    clusters = await service.list_clusters(session, workspace_id, changeset_id)
    return Page.of(clusters[page.offset : page.offset + page.limit], total=len(clusters), params=page)


@router.post(
    "/merge", responses=problem_responses(400, 401, 403, 404, 422), summary="Merge clusters into the first"
)
async def merge_clusters(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    body: ClusterMerge,
    principal: WorkspaceWrite,
    session: DbSession,
) -> ClusterRead:
    return await service.merge_clusters(session, principal, workspace_id, changeset_id, body)


@router.get("/{cluster_id}", responses=problem_responses(401, 403, 404), summary="A cluster and its traces")
async def get_cluster(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    cluster_id: uuid.UUID,
    principal: WorkspaceRead,
    session: DbSession,
) -> ClusterRead:
    return await service.read_cluster(session, workspace_id, changeset_id, cluster_id)


@router.patch("/{cluster_id}", responses=problem_responses(401, 403, 404, 422), summary="Rename or dismiss")
async def update_cluster(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    cluster_id: uuid.UUID,
    body: ClusterUpdate,
    principal: WorkspaceWrite,
    session: DbSession,
) -> ClusterRead:
    return await service.update_cluster(session, principal, workspace_id, changeset_id, cluster_id, body)


@router.post(
    "/{cluster_id}/traces/{trace_id}/move",
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Move a trace to another cluster of the change set",
)
async def move_trace(
    workspace_id: uuid.UUID,
    changeset_id: uuid.UUID,
    cluster_id: uuid.UUID,
    trace_id: str,
    body: TraceMove,
    principal: WorkspaceWrite,
    session: DbSession,
) -> ClusterRead:
    return await service.move_trace(
        session, principal, workspace_id, changeset_id, cluster_id, trace_id, body.to_cluster_id
    )
