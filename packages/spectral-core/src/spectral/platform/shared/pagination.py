"""The one collection envelope: `{"results": [...], "pagination": {total, limit, offset}}`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from spectral.platform.shared.schema_types import INT64_MAX

DEFAULT_LIMIT = 20
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    offset: int = 0


class Pagination(BaseModel):
    total: int = Field(ge=0)
    limit: int = Field(ge=1, le=MAX_LIMIT)
    offset: int = Field(ge=0, le=INT64_MAX)


T = TypeVar("T")
M = TypeVar("M", bound=Any)


class Page(BaseModel, Generic[T]):
    results: list[T]
    pagination: Pagination

    @classmethod
    def of(cls, results: Sequence[T], *, total: int, params: PageParams) -> Page[T]:
        return cls(
            results=list(results),
            pagination=Pagination(total=total, limit=params.limit, offset=params.offset),
        )


async def fetch_page(
    session: AsyncSession, statement: SelectOfScalar[M], params: PageParams
) -> tuple[Sequence[M], int]:
    """One page of an ordered `select(Model)…` and the total number of rows it matches."""
    total = await session.scalar(sa.select(sa.func.count()).select_from(statement.order_by(None).subquery()))
    rows = await session.exec(statement.limit(params.limit).offset(params.offset))
    return rows.all(), int(total or 0)
