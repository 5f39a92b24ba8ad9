"""All SQL of the samples context; every query filters by workspace."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.samples.models import SampleItem, SampleSet
from spectral.platform.shared.pagination import PageParams

# Bounded IN lists when checking hashes of a large import.
_HASH_CHUNK = 500


async def get_set(session: AsyncSession, workspace_id: uuid.UUID, set_id: uuid.UUID) -> SampleSet | None:
    result = await session.exec(
        select(SampleSet).where(SampleSet.id == set_id, SampleSet.workspace_id == workspace_id)
    )
    return result.first()


async def lock_set(session: AsyncSession, workspace_id: uuid.UUID, set_id: uuid.UUID) -> SampleSet | None:
    """The set locked for update: concurrent adds to one set dedupe against each other."""
    result = await session.exec(
        select(SampleSet)
        .where(SampleSet.id == set_id, SampleSet.workspace_id == workspace_id)
        .with_for_update()
    )
    return result.first()


async def name_taken(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, *, except_id: uuid.UUID | None = None
) -> bool:
    statement = select(SampleSet.id).where(SampleSet.workspace_id == workspace_id, SampleSet.name == name)
    if except_id is not None:
        statement = statement.where(SampleSet.id != except_id)
    return (await session.exec(statement)).first() is not None


async def item_counts(
    session: AsyncSession, workspace_id: uuid.UUID, set_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not set_ids:
        return {}
    result = await session.exec(
        select(SampleItem.sample_set_id, sa.func.count())
        .where(SampleItem.workspace_id == workspace_id, col(SampleItem.sample_set_id).in_(sorted(set_ids)))
        .group_by(col(SampleItem.sample_set_id))
    )
    return {set_id: int(count) for set_id, count in result.all()}


async def list_sets(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageParams, *, agent_id: uuid.UUID | None = None
) -> tuple[Sequence[SampleSet], int]:
    conditions = [col(SampleSet.workspace_id) == workspace_id]
    if agent_id is not None:
        conditions.append(col(SampleSet.agent_id) == agent_id)
    total = (await session.exec(select(sa.func.count()).select_from(SampleSet).where(*conditions))).one()
    rows = await session.exec(
        select(SampleSet)
        .where(*conditions)
        .order_by(col(SampleSet.created_at).desc(), col(SampleSet.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return rows.all(), int(total)


async def existing_hashes(
    session: AsyncSession, workspace_id: uuid.UUID, set_id: uuid.UUID, hashes: Collection[str]
) -> set[str]:
    ordered = sorted(hashes)
    found: set[str] = set()
    for offset in range(0, len(ordered), _HASH_CHUNK):
        result = await session.exec(
            select(SampleItem.input_hash).where(
                SampleItem.workspace_id == workspace_id,
                SampleItem.sample_set_id == set_id,
                col(SampleItem.input_hash).in_(ordered[offset : offset + _HASH_CHUNK]),
            )
        )
        found.update(result.all())
    return found


async def list_items(
    session: AsyncSession, workspace_id: uuid.UUID, set_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[SampleItem], int]:
    where = sa.and_(col(SampleItem.workspace_id) == workspace_id, col(SampleItem.sample_set_id) == set_id)
    total = (await session.exec(select(sa.func.count()).select_from(SampleItem).where(where))).one()
    rows = await session.exec(
        select(SampleItem)
        .where(where)
        .order_by(col(SampleItem.created_at), col(SampleItem.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return rows.all(), int(total)


async def all_items(
    session: AsyncSession, workspace_id: uuid.UUID, set_id: uuid.UUID
) -> Sequence[SampleItem]:
    result = await session.exec(
        select(SampleItem)
        .where(SampleItem.workspace_id == workspace_id, SampleItem.sample_set_id == set_id)
        .order_by(col(SampleItem.created_at), col(SampleItem.id))
    )
    return result.all()


async def get_item(
    session: AsyncSession, workspace_id: uuid.UUID, set_id: uuid.UUID, item_id: uuid.UUID
) -> SampleItem | None:
    result = await session.exec(
        select(SampleItem).where(
            SampleItem.id == item_id,
            SampleItem.workspace_id == workspace_id,
            SampleItem.sample_set_id == set_id,
        )
    )
    return result.first()
