"""All SQL of the evaluations context; every query filters by workspace."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.agents.models import Agent
from spectral.platform.evaluations.models import Objective, Rubric, TraceDimensionScore
from spectral.platform.models.models import CallPurpose, ModelCall
from spectral.platform.shared.clock import as_utc
from spectral.platform.shared.pagination import PageParams
from spectral.platform.traces.models import Span, Trace
from spectral.platform.traces.repository import spans_of_traces


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


# ------------------------------------------------------------------------------------------------
# Online scoring


async def online_agents(
    session: AsyncSession, workspace_id: uuid.UUID
) -> dict[uuid.UUID, tuple[uuid.UUID, float]]:
    """Agents that score online: agent id -> (rubric id, sample rate). One small indexed read."""
    result = await session.exec(
        select(Agent.id, Agent.online_rubric_id, Agent.online_sample_rate).where(
            Agent.workspace_id == workspace_id, col(Agent.online_rubric_id).is_not(None)
        )
    )
    return {agent_id: (rubric_id, float(rate)) for agent_id, rubric_id, rate in result.all() if rubric_id}


async def online_traces(
    session: AsyncSession, workspace_id: uuid.UUID, trace_ids: Sequence[str]
) -> list[tuple[str, float]]:
    """(trace id, its agent's sample rate) of the given traces whose agent scores online: the
    ingest hook's one read per batch."""
    if not trace_ids:
        return []
    result = await session.exec(
        select(Trace.trace_id, Agent.online_sample_rate)
        .join(Agent, col(Agent.id) == col(Trace.agent_id))
        .where(
            Trace.workspace_id == workspace_id,
            col(Trace.trace_id).in_(list(trace_ids)),
            Agent.workspace_id == workspace_id,
            col(Agent.online_rubric_id).is_not(None),
        )
    )
    return [(trace_id, float(rate)) for trace_id, rate in result.all()]


async def agents_scoring_with(
    session: AsyncSession, workspace_id: uuid.UUID, rubric_id: uuid.UUID
) -> list[tuple[uuid.UUID, float]]:
    result = await session.exec(
        select(Agent.id, Agent.online_sample_rate)
        .where(Agent.workspace_id == workspace_id, Agent.online_rubric_id == rubric_id)
        .order_by(col(Agent.id))
    )
    return [(agent_id, float(rate)) for agent_id, rate in result.all()]


async def trace_agents(
    session: AsyncSession, workspace_id: uuid.UUID, trace_ids: Sequence[str]
) -> list[tuple[str, uuid.UUID]]:
    """(trace id, agent id) of the given traces that are matched to an agent."""
    if not trace_ids:
        return []
    result = await session.exec(
        select(Trace.trace_id, Trace.agent_id).where(
            Trace.workspace_id == workspace_id,
            col(Trace.trace_id).in_(list(trace_ids)),
            col(Trace.agent_id).is_not(None),
        )
    )
    return [(trace_id, agent_id) for trace_id, agent_id in result.all() if agent_id is not None]


async def scoring_spans(
    session: AsyncSession, workspace_id: uuid.UUID, traces: Sequence[Trace]
) -> list[Span]:
    """The spans of these traces that deterministic scorers read: tool spans (tool calls and their
    errors) and failed spans. Ok spans of other kinds carry the bulk of the payload and no score."""
    if not traces:
        return []
    result = await session.exec(
        select(Span)
        .where(
            *spans_of_traces(workspace_id, traces),
            sa.or_(col(Span.kind) == "tool", col(Span.status) == "error"),
        )
        .order_by(col(Span.trace_id), col(Span.start_time), col(Span.span_id))
    )
    return list(result.all())


async def traces_by_id(
    session: AsyncSession, workspace_id: uuid.UUID, trace_ids: Sequence[str]
) -> list[Trace]:
    result = await session.exec(
        select(Trace)
        .where(Trace.workspace_id == workspace_id, col(Trace.trace_id).in_(list(trace_ids)))
        .order_by(col(Trace.trace_id))
    )
    return list(result.all())


async def agent_keys(
    session: AsyncSession, workspace_id: uuid.UUID, agent_ids: Sequence[uuid.UUID]
) -> dict[str, uuid.UUID]:
    """What these agents' traces may name them by (slug, id), to the agent."""
    result = await session.exec(
        select(Agent.id, Agent.slug).where(
            Agent.workspace_id == workspace_id, col(Agent.id).in_(list(agent_ids))
        )
    )
    keys: dict[str, uuid.UUID] = {}
    for agent_id, slug in result.all():
        keys[slug] = keys[str(agent_id)] = agent_id
    return keys


async def agent_trace_ids_after(
    session: AsyncSession, workspace_id: uuid.UUID, keys: Mapping[str, uuid.UUID], after: str, limit: int
) -> list[tuple[str, uuid.UUID]]:
    """The next `limit` (trace id, agent id) of the agents `keys` name, in trace id order (keyset
    paging): traces resolved to them at ingest, and those that name them by a key but arrived
    before the agent existed (`traces.repository.AgentMatch`'s rule)."""
    agent_ids = sorted(set(keys.values()))
    result = await session.exec(
        select(Trace.trace_id, Trace.agent_id, Trace.agent_key)
        .where(
            Trace.workspace_id == workspace_id,
            sa.or_(
                col(Trace.agent_id).in_(agent_ids),
                sa.and_(col(Trace.agent_id).is_(None), col(Trace.agent_key).in_(sorted(keys))),
            ),
            col(Trace.trace_id) > after,
        )
        .order_by(col(Trace.trace_id))
        .limit(limit)
    )
    return [
        (trace_id, agent_id if agent_id is not None else keys[str(agent_key)])
        for trace_id, agent_id, agent_key in result.all()
    ]


async def delete_trace_scores(
    session: AsyncSession, workspace_id: uuid.UUID, trace_ids: Sequence[str]
) -> None:
    """Forget the scores of these traces (they expired)."""
    if trace_ids:
        await session.exec(
            sa.delete(TraceDimensionScore).where(
                col(TraceDimensionScore.workspace_id) == workspace_id,
                col(TraceDimensionScore.trace_id).in_(list(trace_ids)),
            )
        )


async def replace_dimension_scores(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    rubric_id: uuid.UUID,
    trace_ids: Sequence[str],
    rows: Sequence[TraceDimensionScore],
) -> None:
    """The rubric's scores of these traces become `rows`: dimensions the rubric no longer has are
    dropped, the others upserted (two jobs scoring spans of one trace at once never collide)."""
    keys = sorted({row.dimension_key for row in rows})
    await session.exec(
        sa.delete(TraceDimensionScore).where(
            col(TraceDimensionScore.workspace_id) == workspace_id,
            col(TraceDimensionScore.rubric_id) == rubric_id,
            col(TraceDimensionScore.trace_id).in_(list(trace_ids)),
            col(TraceDimensionScore.dimension_key).not_in(keys),
        )
    )
    if not rows:
        return
    table = TraceDimensionScore.__table__  # type: ignore[attr-defined]
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table)
    fresh = {
        name: statement.excluded[name]
        for name in (
            "rubric_version",
            "agent_id",
            "trace_start_time",
            "score",
            "passed",
            "judged",
            "reason",
            "scored_at",
        )
    }
    upsert = statement.on_conflict_do_update(
        index_elements=["workspace_id", "trace_id", "rubric_id", "dimension_key"], set_=fresh
    )
    # Through the connection: one executemany (batched by SQLAlchemy) for the whole chunk.
    await (await session.connection()).execute(upsert, [row.model_dump() for row in rows])


async def stored_judgments(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    rubric_id: uuid.UUID,
    rubric_version: int,
    trace_ids: Sequence[str],
) -> dict[tuple[str, str], tuple[float, str]]:
    """Judged scores stored for this rubric version: (trace id, dimension key) -> (score, reason)."""
    found: dict[tuple[str, str], tuple[float, str]] = {}
    ids = list(trace_ids)
    for start in range(0, len(ids), 500):
        result = await session.exec(
            select(
                TraceDimensionScore.trace_id,
                TraceDimensionScore.dimension_key,
                TraceDimensionScore.score,
                TraceDimensionScore.reason,
            ).where(
                TraceDimensionScore.workspace_id == workspace_id,
                TraceDimensionScore.rubric_id == rubric_id,
                TraceDimensionScore.rubric_version == rubric_version,
                col(TraceDimensionScore.judged).is_(True),
                col(TraceDimensionScore.score).is_not(None),
                col(TraceDimensionScore.trace_id).in_(ids[start : start + 500]),
            )
        )
        for trace_id, key, score, reason in result.all():
            if score is not None:
                found[(trace_id, key)] = (float(score), reason or "")
    return found


async def online_judge_spend(session: AsyncSession, workspace_id: uuid.UUID, since: datetime) -> float:
    """What online judging (judge calls outside any scan) cost the workspace since `since`."""
    statement = select(sa.func.coalesce(sa.func.sum(ModelCall.cost_usd), 0.0)).where(
        ModelCall.workspace_id == workspace_id,
        col(ModelCall.scan_id).is_(None),
        ModelCall.purpose == CallPurpose.JUDGE.value,
        ModelCall.created_at >= since,
    )
    return float((await session.exec(statement)).one())


@dataclass(frozen=True, slots=True)
class QualityBucket:
    agent_id: uuid.UUID
    hour: datetime
    traces: int
    mean_quality: float


def _hour(session: AsyncSession, column: Any) -> Any:
    """The UTC hour a timestamp falls in, whatever the session's time zone."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.date_trunc("hour", sa.func.timezone("UTC", column))
    return sa.func.strftime("%Y-%m-%d %H:00:00", column)


async def quality_by_hour(
    session: AsyncSession, workspace_id: uuid.UUID, since: datetime
) -> list[QualityBucket]:
    """Mean online quality (the traces' latest evaluation) per agent and start hour, since `since`."""
    hour = _hour(session, col(Trace.start_time)).label("hour")
    statement = (
        sa.select(col(Trace.agent_id), hour, sa.func.count(), sa.func.avg(col(Trace.score)))
        .where(
            col(Trace.workspace_id) == workspace_id,
            col(Trace.start_time) >= since,
            col(Trace.agent_id).is_not(None),
            col(Trace.score).is_not(None),
        )
        .group_by(col(Trace.agent_id), hour)
        .order_by(col(Trace.agent_id), hour)
    )
    rows = await (await session.connection()).execute(statement)
    return [
        QualityBucket(agent_id=agent_id, hour=_as_hour(value), traces=int(count), mean_quality=float(mean))
        for agent_id, value, count, mean in rows.all()
    ]


def _as_hour(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    # PostgreSQL: a naive timestamp that is UTC wall-clock time.
    return as_utc(value)


@dataclass(frozen=True, slots=True)
class FailingDimension:
    agent_id: uuid.UUID
    rubric_id: uuid.UUID
    dimension_key: str
    scored: int
    failed: int


async def failing_dimensions(
    session: AsyncSession, workspace_id: uuid.UUID, since: datetime
) -> list[FailingDimension]:
    """Per agent, rubric and dimension: traces started since `since` scored and failed on it."""
    failed = sa.func.sum(sa.case((col(TraceDimensionScore.passed).is_(False), 1), else_=0))
    statement = (
        sa.select(
            col(TraceDimensionScore.agent_id),
            col(TraceDimensionScore.rubric_id),
            col(TraceDimensionScore.dimension_key),
            sa.func.count(col(TraceDimensionScore.score)),
            failed,
        )
        .where(
            col(TraceDimensionScore.workspace_id) == workspace_id,
            col(TraceDimensionScore.trace_start_time) >= since,
            col(TraceDimensionScore.agent_id).is_not(None),
        )
        .group_by(
            col(TraceDimensionScore.agent_id),
            col(TraceDimensionScore.rubric_id),
            col(TraceDimensionScore.dimension_key),
        )
        .having(failed > 0)
        .order_by(failed.desc(), col(TraceDimensionScore.dimension_key))
    )
    rows = await (await session.connection()).execute(statement)
    return [
        FailingDimension(agent_id=a, rubric_id=r, dimension_key=k, scored=int(n), failed=int(f or 0))
        for a, r, k, n, f in rows.all()
    ]


@dataclass(frozen=True, slots=True)
class WindowQuality:
    traces: int
    mean_quality: float | None


async def agent_quality_between(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, start: datetime, end: datetime
) -> WindowQuality:
    row = (
        await (await session.connection()).execute(
            sa.select(sa.func.count(col(Trace.score)), sa.func.avg(col(Trace.score))).where(
                col(Trace.workspace_id) == workspace_id,
                col(Trace.agent_id) == agent_id,
                col(Trace.start_time) >= start,
                col(Trace.start_time) < end,
                col(Trace.score).is_not(None),
            )
        )
    ).one()
    return WindowQuality(traces=int(row[0]), mean_quality=None if row[1] is None else float(row[1]))


async def scores_by_version(
    session: AsyncSession, workspace_id: uuid.UUID, rubric_id: uuid.UUID
) -> dict[int, int]:
    """How many traces hold scores of each version of the rubric."""
    statement = (
        sa.select(
            col(TraceDimensionScore.rubric_version),
            sa.func.count(sa.distinct(col(TraceDimensionScore.trace_id))),
        )
        .where(
            col(TraceDimensionScore.workspace_id) == workspace_id,
            col(TraceDimensionScore.rubric_id) == rubric_id,
        )
        .group_by(col(TraceDimensionScore.rubric_version))
    )
    rows = await (await session.connection()).execute(statement)
    return {int(version): int(count) for version, count in rows.all()}
