"""All SQL of the agents context; every query filters by workspace."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.agents.models import Agent, AgentConfigVersion, AgentTemplate, AgentTemplateVersion
from spectral.platform.shared.pagination import PageParams, fetch_page


async def directory_rows(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[tuple[uuid.UUID, str, uuid.UUID | None, float]]:
    """(id, slug, online rubric, sample rate) of every agent of the workspace, in one read (the
    agent directory's)."""
    result = await session.exec(
        select(Agent.id, Agent.slug, Agent.online_rubric_id, Agent.online_sample_rate).where(
            Agent.workspace_id == workspace_id
        )
    )
    return [(agent_id, slug, rubric_id, float(rate)) for agent_id, slug, rubric_id, rate in result.all()]


# --- agents ------------------------------------------------------------------------------------


async def get_agent(session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID) -> Agent | None:
    result = await session.exec(select(Agent).where(Agent.id == agent_id, Agent.workspace_id == workspace_id))
    return result.first()


async def lock_agent(session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID) -> Agent | None:
    """The agent row locked for update: version numbers are allocated under this lock."""
    result = await session.exec(
        select(Agent).where(Agent.id == agent_id, Agent.workspace_id == workspace_id).with_for_update()
    )
    return result.first()


async def runtime_config(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID
) -> tuple[bool, dict[str, Any] | None, str | None]:
    """(agent exists, active resolved config, its ETag) in one primary-key lookup (the hot path)."""
    result = await session.exec(
        select(Agent.active_config, Agent.active_etag).where(
            Agent.id == agent_id, Agent.workspace_id == workspace_id
        )
    )
    row = result.first()
    if row is None:
        return False, None, None
    config, etag = row
    return True, dict(config) if config is not None else None, etag


async def slug_taken(
    session: AsyncSession, workspace_id: uuid.UUID, slug: str, *, except_id: uuid.UUID | None = None
) -> bool:
    statement = select(Agent.id).where(Agent.workspace_id == workspace_id, Agent.slug == slug)
    if except_id is not None:
        statement = statement.where(Agent.id != except_id)
    result = await session.exec(statement)
    return result.first() is not None


async def list_agents(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Agent], int]:
    statement = (
        select(Agent)
        .where(Agent.workspace_id == workspace_id)
        .order_by(col(Agent.created_at).desc(), col(Agent.id))
    )
    return await fetch_page(session, statement, page)


# --- config versions ----------------------------------------------------------------------------


async def get_version(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, number: int
) -> AgentConfigVersion | None:
    result = await session.exec(
        select(AgentConfigVersion).where(
            AgentConfigVersion.workspace_id == workspace_id,
            AgentConfigVersion.agent_id == agent_id,
            AgentConfigVersion.number == number,
        )
    )
    return result.first()


async def latest_version_number(session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID) -> int:
    result = await session.exec(
        select(sa.func.max(AgentConfigVersion.number)).where(
            AgentConfigVersion.workspace_id == workspace_id, AgentConfigVersion.agent_id == agent_id
        )
    )
    return int(result.one() or 0)


async def list_versions(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[AgentConfigVersion], int]:
    statement = (
        select(AgentConfigVersion)
        .where(AgentConfigVersion.workspace_id == workspace_id, AgentConfigVersion.agent_id == agent_id)
        .order_by(col(AgentConfigVersion.number).desc())
    )
    return await fetch_page(session, statement, page)


# --- templates ----------------------------------------------------------------------------------


async def get_template(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, name: str
) -> AgentTemplate | None:
    result = await session.exec(
        select(AgentTemplate).where(
            AgentTemplate.workspace_id == workspace_id,
            AgentTemplate.agent_id == agent_id,
            AgentTemplate.name == name,
        )
    )
    return result.first()


async def list_templates(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[AgentTemplate], int]:
    where = sa.and_(col(AgentTemplate.workspace_id) == workspace_id, col(AgentTemplate.agent_id) == agent_id)
    total = (await session.exec(select(sa.func.count()).select_from(AgentTemplate).where(where))).one()
    rows = await session.exec(
        select(AgentTemplate)
        .where(where)
        .order_by(col(AgentTemplate.name))
        .offset(page.offset)
        .limit(page.limit)
    )
    return rows.all(), int(total)


async def get_template_version(
    session: AsyncSession, workspace_id: uuid.UUID, template_id: uuid.UUID, version: int
) -> AgentTemplateVersion | None:
    result = await session.exec(
        select(AgentTemplateVersion).where(
            AgentTemplateVersion.workspace_id == workspace_id,
            AgentTemplateVersion.template_id == template_id,
            AgentTemplateVersion.version == version,
        )
    )
    return result.first()


async def template_texts(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, refs: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], str]:
    """The texts of (template name, version) pairs of one agent, in one query."""
    pairs = sorted(set(refs))
    if not pairs:
        return {}
    result = await session.exec(
        select(AgentTemplate.name, AgentTemplateVersion.version, AgentTemplateVersion.text)
        .join(AgentTemplateVersion, col(AgentTemplateVersion.template_id) == col(AgentTemplate.id))
        .where(
            AgentTemplate.workspace_id == workspace_id,
            AgentTemplate.agent_id == agent_id,
            sa.tuple_(col(AgentTemplate.name), col(AgentTemplateVersion.version)).in_(pairs),
        )
    )
    return {(name, version): text for name, version, text in result.all()}


async def list_template_versions(
    session: AsyncSession, workspace_id: uuid.UUID, template_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[AgentTemplateVersion], int]:
    where = sa.and_(
        col(AgentTemplateVersion.workspace_id) == workspace_id,
        col(AgentTemplateVersion.template_id) == template_id,
    )
    total = (await session.exec(select(sa.func.count()).select_from(AgentTemplateVersion).where(where))).one()
    rows = await session.exec(
        select(AgentTemplateVersion)
        .where(where)
        .order_by(col(AgentTemplateVersion.version).desc())
        .offset(page.offset)
        .limit(page.limit)
    )
    return rows.all(), int(total)


async def all_agents(session: AsyncSession, workspace_id: uuid.UUID) -> Sequence[Agent]:
    """Every agent of the workspace, by name: overviews show them all, not a page."""
    rows = await session.exec(
        select(Agent).where(col(Agent.workspace_id) == workspace_id).order_by(col(Agent.name), col(Agent.id))
    )
    return rows.all()
