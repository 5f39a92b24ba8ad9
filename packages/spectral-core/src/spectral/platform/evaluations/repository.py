"""All SQL of the evaluations context; every query filters by workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.evaluations.models import Objective, Rubric
from spectral.platform.shared.pagination import PageParams


async def get_rubric(session: AsyncSession, workspace_id: uuid.UUID, rubric_id: uuid.UUID) -> Rubric | None:
    result = await session.exec(
        select(Rubric).where(Rubric.id == rubric_id, Rubric.workspace_id == workspace_id)
    )
    return result.first()


async def rubric_name_taken(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, *, except_id: uuid.UUID | None = None
) -> bool:
    statement = select(Rubric.id).where(Rubric.workspace_id == workspace_id, Rubric.name == name)
    if except_id is not None:
        statement = statement.where(Rubric.id != except_id)
    return (await session.exec(statement)).first() is not None


async def list_rubrics(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams, *, agent_id: uuid.UUID | None = None
) -> tuple[Sequence[Rubric], int]:
    conditions = [col(Rubric.workspace_id) == workspace_id]
    if agent_id is not None:
        conditions.append(col(Rubric.agent_id) == agent_id)
    total = (await session.exec(select(sa.func.count()).select_from(Rubric).where(*conditions))).one()
    rows = await session.exec(
        select(Rubric)
        .where(*conditions)
        .order_by(col(Rubric.created_at).desc(), col(Rubric.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return rows.all(), int(total)


async def get_objective(
    session: AsyncSession, workspace_id: uuid.UUID, objective_id: uuid.UUID
) -> Objective | None:
    result = await session.exec(
        select(Objective).where(Objective.id == objective_id, Objective.workspace_id == workspace_id)
    )
    return result.first()


async def objective_name_taken(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, *, except_id: uuid.UUID | None = None
) -> bool:
    statement = select(Objective.id).where(Objective.workspace_id == workspace_id, Objective.name == name)
    if except_id is not None:
        statement = statement.where(Objective.id != except_id)
    return (await session.exec(statement)).first() is not None


async def objectives_of_rubric(
    session: AsyncSession, workspace_id: uuid.UUID, rubric_id: uuid.UUID
) -> Sequence[Objective]:
    result = await session.exec(
        select(Objective)
        .where(Objective.workspace_id == workspace_id, Objective.rubric_id == rubric_id)
        .order_by(col(Objective.name))
    )
    return result.all()


async def list_objectives(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams, *, rubric_id: uuid.UUID | None = None
) -> tuple[Sequence[Objective], int]:
    conditions = [col(Objective.workspace_id) == workspace_id]
    if rubric_id is not None:
        conditions.append(col(Objective.rubric_id) == rubric_id)
    total = (await session.exec(select(sa.func.count()).select_from(Objective).where(*conditions))).one()
    rows = await session.exec(
        select(Objective)
        .where(*conditions)
        .order_by(col(Objective.created_at).desc(), col(Objective.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return rows.all(), int(total)


async def counts(session: AsyncSession, workspace_id: uuid.UUID) -> tuple[int, int]:
    """How many rubrics and objectives the workspace has."""
    rubrics = (
        await session.exec(
            select(sa.func.count()).select_from(Rubric).where(Rubric.workspace_id == workspace_id)
        )
    ).one()
    objectives = (
        await session.exec(
            select(sa.func.count()).select_from(Objective).where(Objective.workspace_id == workspace_id)
        )
    ).one()
    return int(rubrics), int(objectives)


async def newest_objective_for_agent(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID
) -> Objective | None:
    """The newest objective whose rubric was drafted from this agent or from no agent in particular."""
    result = await session.exec(
        select(Objective)
        .join(Rubric, col(Rubric.id) == Objective.rubric_id)
        .where(
            Objective.workspace_id == workspace_id,
            sa.or_(col(Rubric.agent_id) == agent_id, col(Rubric.agent_id).is_(None)),
        )
        .order_by(col(Objective.created_at).desc(), col(Objective.id))
        .limit(1)
    )
    return result.first()
