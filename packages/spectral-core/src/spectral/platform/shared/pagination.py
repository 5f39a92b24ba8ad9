"""The one collection envelope: `{"results": [...], "pagination": {total, limit, offset}}`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

DEFAULT_LIMIT = 20
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    offset: int = 0


class Pagination(BaseModel):
    total: int = Field(ge=0)
    limit: int = Field(ge=1, le=MAX_LIMIT)
    offset: int = Field(ge=0)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    results: list[T]
    pagination: Pagination

    @classmethod
    def of(cls, results: Sequence[T], *, total: int, params: PageParams) -> Page[T]:
        return cls(
            results=list(results),
            pagination=Pagination(total=total, limit=params.limit, offset=params.offset),
        )
