"""`after_commit`: what a transaction wrote is acted on (e.g. counted) only once it committed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from spectral.platform.shared.db import Database, after_commit


async def test_callbacks_run_when_the_transaction_commits(db: Database) -> None:
    ran: list[str] = []
    async with db.session() as session:
        await session.exec(sa.select(sa.literal(1)))
        after_commit(session, lambda: ran.append("first"))
        after_commit(session, lambda: ran.append("second"))
        assert ran == []
    assert ran == ["first", "second"]


async def test_callbacks_of_a_rolled_back_transaction_are_dropped(db: Database) -> None:
    ran: list[str] = []
    async with db.sessionmaker() as session:
        await session.exec(sa.select(sa.literal(1)))
        after_commit(session, lambda: ran.append("rolled back"))
        await session.rollback()
        # The next transaction of the same session does not inherit them.
        await session.exec(sa.select(sa.literal(1)))
        await session.commit()
    assert ran == []

    async def failing_unit_of_work() -> None:
        async with db.session() as session:
            await session.exec(sa.select(sa.literal(1)))
            after_commit(session, lambda: ran.append("failed"))
            raise RuntimeError("the unit of work failed")

    with pytest.raises(RuntimeError):
        await failing_unit_of_work()
    assert ran == []


async def test_a_savepoint_release_is_not_the_commit(db: Database) -> None:
    ran: list[str] = []
    async with db.session() as session:
        async with session.begin_nested():
            after_commit(session, lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]
