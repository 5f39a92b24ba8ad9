"""Workspace use cases: create, read, update, delete, members, autonomy and health. The caller's
workspace comes from the principal (resolved from the path by the API's authorize dependency)."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository as identity
from spectral.platform.identity.models import User, Workspace, WorkspaceMember
from spectral.platform.identity.principal import Principal
from spectral.platform.identity.service import workspace_memberships
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.errors import BusinessRuleViolationError, ConflictError, NotFoundError
from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.shared.queue import JobQueue
from spectral.platform.workspaces import repository
from spectral.platform.workspaces.audit import record_audit
from spectral.platform.workspaces.models import WorkspaceAutonomy
from spectral.platform.workspaces.schemas import (
    Autonomy,
    AutonomyRead,
    Guardrails,
    MemberRead,
    QueueHealth,
    WorkspaceCreate,
    WorkspaceHealth,
    WorkspaceMemberCreate,
    WorkspaceMemberUpdate,
    WorkspaceRead,
    WorkspaceUpdate,
)


def _read(workspace: Workspace) -> WorkspaceRead:
    return WorkspaceRead.model_validate(workspace, from_attributes=True)


def _member(member: WorkspaceMember, user: User) -> MemberRead:
    return MemberRead(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=member.role,
        created_at=member.created_at,
    )


async def _workspace(session: AsyncSession, principal: Principal) -> Workspace:
    assert principal.workspace_id is not None, "workspace routes resolve the workspace first"
    workspace = await identity.get_workspace(session, principal.workspace_id)
    if workspace is None:
        raise NotFoundError.for_resource("Workspace", principal.workspace_id)
    return workspace


async def list_workspaces(
    session: AsyncSession, principal: Principal, page: PageParams
) -> Page[WorkspaceRead]:
    assert principal.user_id is not None
    visible = {m.id for m in await workspace_memberships(session, principal.user_id)}
    rows = [w for w, _, _ in await identity.visible_workspaces(session, principal.user_id) if w.id in visible]
    window = rows[page.offset : page.offset + page.limit]
    return Page.of([_read(w) for w in window], total=len(rows), params=page)


async def create(session: AsyncSession, principal: Principal, body: WorkspaceCreate) -> WorkspaceRead:
    assert principal.account_id is not None
    workspace = Workspace(account_id=principal.account_id, name=body.name, description=body.description)
    session.add(workspace)
    await session.flush()
    read = _read(workspace)
    await record_audit(
        session,
        principal,
        workspace.id,
        action="workspace.create",
        resource_type="workspace",
        resource_id=workspace.id,
        after=read.model_dump(mode="json"),
    )
    return read


async def get(session: AsyncSession, principal: Principal) -> WorkspaceRead:
    return _read(await _workspace(session, principal))


async def update(session: AsyncSession, principal: Principal, body: WorkspaceUpdate) -> WorkspaceRead:
    workspace = await _workspace(session, principal)
    before = _read(workspace).model_dump(mode="json")
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(workspace, field, value)
    workspace.updated_at = utcnow()
    await session.flush()
    read = _read(workspace)
    await record_audit(
        session,
        principal,
        workspace.id,
        action="workspace.update",
        resource_type="workspace",
        resource_id=workspace.id,
        before=before,
        after=read.model_dump(mode="json"),
    )
    return read


async def delete(session: AsyncSession, principal: Principal) -> None:
    """Soft delete: the workspace and everything in it resolve as 404 from now on."""
    workspace = await _workspace(session, principal)
    workspace.deleted_at = utcnow()
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace.id,
        action="workspace.delete",
        resource_type="workspace",
        resource_id=workspace.id,
    )


async def list_members(session: AsyncSession, principal: Principal, page: PageParams) -> Page[MemberRead]:
    workspace = await _workspace(session, principal)
    rows, total = await identity.list_workspace_members(session, workspace.id, page)
    return Page.of([_member(m, u) for m, u in rows], total=total, params=page)


async def add_member(session: AsyncSession, principal: Principal, body: WorkspaceMemberCreate) -> MemberRead:
    workspace = await _workspace(session, principal)
    user = await identity.get_user(session, body.user_id)
    if user is None or await identity.account_membership(session, workspace.account_id, body.user_id) is None:
        raise BusinessRuleViolationError(
            "Only members of the account can join its workspaces; invite them first"
        )
    if await identity.workspace_membership(session, workspace.id, user.id) is not None:
        raise ConflictError("The user is already a member of this workspace")
    member = WorkspaceMember(workspace_id=workspace.id, user_id=user.id, role=body.role.value)
    session.add(member)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace.id,
        action="workspace_member.add",
        resource_type="workspace_member",
        resource_id=user.id,
        after={"role": member.role},
    )
    return _member(member, user)


async def _existing_member(
    session: AsyncSession, workspace: Workspace, user_id: uuid.UUID
) -> tuple[WorkspaceMember, User]:
    member = await identity.workspace_membership(session, workspace.id, user_id)
    user = await identity.get_user(session, user_id)
    if member is None or user is None:
        raise NotFoundError.for_resource("Workspace member", user_id)
    return member, user


async def update_member(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, body: WorkspaceMemberUpdate
) -> MemberRead:
    workspace = await _workspace(session, principal)
    member, user = await _existing_member(session, workspace, user_id)
    before = {"role": member.role}
    member.role = body.role.value
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace.id,
        action="workspace_member.update",
        resource_type="workspace_member",
        resource_id=user_id,
        before=before,
        after={"role": member.role},
    )
    return _member(member, user)


async def remove_member(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    workspace = await _workspace(session, principal)
    member, _ = await _existing_member(session, workspace, user_id)
    before = {"role": member.role}
    await session.delete(member)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace.id,
        action="workspace_member.remove",
        resource_type="workspace_member",
        resource_id=user_id,
        before=before,
    )


def _autonomy(row: WorkspaceAutonomy | None) -> AutonomyRead:
    if row is None:
        return AutonomyRead(updated_at=None, updated_by=None)
    settings = Autonomy.model_validate({"level": row.level, "guardrails": row.guardrails})
    return AutonomyRead(**settings.model_dump(), updated_at=row.updated_at, updated_by=row.updated_by)


async def workspace_guardrails(session: AsyncSession, workspace_id: uuid.UUID) -> Guardrails:
    """The workspace's guardrails (the defaults until its autonomy is set)."""
    row = await repository.get_autonomy(session, workspace_id)
    return Guardrails.model_validate(row.guardrails if row else {})


async def get_autonomy(session: AsyncSession, principal: Principal) -> AutonomyRead:
    workspace = await _workspace(session, principal)
    return _autonomy(await repository.get_autonomy(session, workspace.id))


async def set_autonomy(session: AsyncSession, principal: Principal, body: Autonomy) -> AutonomyRead:
    workspace = await _workspace(session, principal)
    row = await repository.get_autonomy(session, workspace.id)
    before = (
        None if row is None else Autonomy.model_validate({"level": row.level, "guardrails": row.guardrails})
    )
    guardrails = body.guardrails.model_dump(mode="json")
    if row is None:
        row = WorkspaceAutonomy(
            workspace_id=workspace.id,
            level=body.level.value,
            guardrails=guardrails,
            updated_by=principal.actor,
        )
        session.add(row)
    else:
        row.level, row.guardrails, row.updated_by, row.updated_at = (
            body.level.value,
            guardrails,
            principal.actor,
            utcnow(),
        )
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace.id,
        action="workspace.autonomy.update",
        resource_type="workspace_autonomy",
        resource_id=workspace.id,
        before=None if before is None else before.model_dump(mode="json"),
        after=body.model_dump(mode="json"),
    )
    return _autonomy(row)


async def health(
    session: AsyncSession, principal: Principal, *, db: Database, queue: JobQueue, waiting: int
) -> WorkspaceHealth:
    """`waiting`: this workspace's runs waiting in the queue, counted by the caller. The queue's
    own depth is every tenant's jobs: how busy other tenants are is not this tenant's to see."""
    workspace = await _workspace(session, principal)
    database_ok = await db.ping()
    queue_ok = await queue.ping()
    autonomy = _autonomy(await repository.get_autonomy(session, workspace.id))
    return WorkspaceHealth(
        workspace_id=workspace.id,
        status="ok" if database_ok and queue_ok else "degraded",
        database="ok" if database_ok else "unavailable",
        queue=QueueHealth(
            backend=queue.backend,
            status="ok" if queue_ok else "unavailable",
            depth=waiting if queue_ok else None,
        ),
        active_api_keys=await identity.count_active_api_keys(session, workspace.id),
        members=await identity.count_workspace_members(session, workspace.id),
        autonomy_level=autonomy.level,
    )
