"""Request-scoped dependencies: the unit of work, pagination and the principal.

Every router declares its principal with one of the annotated types at the bottom, e.g.
`principal: WorkspaceWrite`; that resolves the caller, the workspace of the path and the scope in
one place, so no view checks tenancy by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageParams
from spectral.platform.shared.schema_types import NonNegativeInt64Param
from spectral.platform.shared.unit_of_work import unit_of_work
from spectral_api.state import AppState


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.spectral
    return state


AppStateDep = Annotated[AppState, Depends(app_state)]


_READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def db_session(state: AppStateDep, request: Request) -> AsyncIterator[AsyncSession]:
    # scope="function" below: the commit happens before the response is sent, so a failed
    # commit can never follow a 200 the client already has. Other methods are writers: on SQLite
    # they take the write lock first, so concurrent writers queue instead of failing.
    async with unit_of_work(
        state.db, state.queue, writes=request.method not in _READ_ONLY_METHODS
    ) as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    offset: Annotated[NonNegativeInt64Param, Query(description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


Pagination = Annotated[PageParams, Depends(page_params)]
