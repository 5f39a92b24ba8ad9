"""Online quality as the dashboard and the supervisor read it: per agent, the mean of its traces'
latest online evaluation by hour, the dimensions its traces fail, and a measured quality drop
(the recent window against the week before it)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.evaluations import repository
from spectral.platform.evaluations.schemas import (
    AgentQuality,
    FailingDimensionRead,
    QualityDrop,
    QualityPoint,
)
from spectral.platform.shared.settings import Settings

BASELINE = timedelta(days=7)
TOP_FAILING = 5


async def quality_by_agent(
    session: AsyncSession, workspace_id: uuid.UUID, since: datetime
) -> dict[uuid.UUID, AgentQuality]:
    """Agents with online scores of traces started since `since`: hourly buckets, the overall mean
    and their most failed dimensions (by failed traces, at most five)."""
    hourly: dict[uuid.UUID, list[QualityPoint]] = defaultdict(list)
    for bucket in await repository.quality_by_hour(session, workspace_id, since):
        hourly[bucket.agent_id].append(
            QualityPoint(hour=bucket.hour, traces=bucket.traces, mean_quality=round(bucket.mean_quality, 6))
        )
    failing: dict[uuid.UUID, list[FailingDimensionRead]] = defaultdict(list)
    for row in await repository.failing_dimensions(session, workspace_id, since):
        if len(failing[row.agent_id]) < TOP_FAILING:
            failing[row.agent_id].append(
                FailingDimensionRead(
                    rubric_id=row.rubric_id,
                    dimension=row.dimension_key,
                    scored=row.scored,
                    failed=row.failed,
                    fail_rate=round(row.failed / row.scored, 6) if row.scored else 0.0,
                )
            )
    result = {}
    for agent_id in hourly.keys() | failing.keys():
        points = hourly.get(agent_id, [])
        scored = sum(p.traces for p in points)
        mean = sum(p.mean_quality * p.traces for p in points) / scored if scored else None
        result[agent_id] = AgentQuality(
            scored_traces=scored,
            mean_quality=None if mean is None else round(mean, 6),
            hourly=points,
            failing_dimensions=failing.get(agent_id, []),
        )
    return result


@dataclass(frozen=True, slots=True)
class DropPolicy:
    window: timedelta
    threshold: float
    min_traces: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DropPolicy:
        return cls(
            window=timedelta(hours=settings.quality_drop_window_hours),
            threshold=settings.quality_drop_threshold,
            min_traces=settings.quality_drop_min_traces,
        )


async def quality_drop(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, policy: DropPolicy, now: datetime
) -> QualityDrop | None:
    """The agent's measured drop: mean online quality over [now - window, now) against the week
    before that window; None unless both windows have enough scored traces and the mean fell by at
    least the threshold."""
    recent_start = now - policy.window
    recent = await repository.agent_quality_between(session, workspace_id, agent_id, recent_start, now)
    baseline = await repository.agent_quality_between(
        session, workspace_id, agent_id, recent_start - BASELINE, recent_start
    )
    if (
        recent.mean_quality is None
        or baseline.mean_quality is None
        or recent.traces < policy.min_traces
        or baseline.traces < policy.min_traces
    ):
        return None
    drop = baseline.mean_quality - recent.mean_quality
    if drop < policy.threshold:
        return None
    return QualityDrop(
        agent_id=agent_id,
        window_start=recent_start,
        window_end=now,
        baseline_start=recent_start - BASELINE,
        baseline_end=recent_start,
        recent_mean=round(recent.mean_quality, 6),
        baseline_mean=round(baseline.mean_quality, 6),
        drop=round(drop, 6),
        threshold=policy.threshold,
        recent_traces=recent.traces,
        baseline_traces=baseline.traces,
    )
