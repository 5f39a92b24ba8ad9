"""Read models of the dashboard: what a person sees first when they open a workspace."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from spectral.platform.evaluations.schemas import AgentQuality
from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.workspaces.schemas import AutonomyLevel


class TrafficWindow(BaseModel):
    traces: int
    errors: int
    cost_usd: float


class LatestScan(BaseModel):
    id: uuid.UUID
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    finished_at: UtcDateTime | None
    n_recommended: int | None = Field(description="null until the scan has succeeded")


class ReviewQueue(BaseModel):
    proposed: int = Field(description="change sets waiting for a decision")
    recommended: int = Field(description="of those, how many the scan recommends")


class AgentControl(BaseModel):
    agent_id: uuid.UUID
    name: str
    slug: str
    active_version_number: int | None
    last_24h: TrafficWindow
    latest_scan: LatestScan | None
    awaiting_review: ReviewQueue
    quality_24h: AgentQuality | None = Field(
        description="online scores of the last 24 h by hour, and the failing dimensions; null when none"
    )


class ControlPlaneRead(BaseModel):
    autonomy_level: AutonomyLevel
    generated_at: UtcDateTime
    agents: list[AgentControl]


class BriefingTraces(BaseModel):
    received: int
    failing: int


class BriefingScans(BaseModel):
    succeeded: int
    failed: int


class BriefingChangeSets(BaseModel):
    proposed: int
    accepted: int
    applied: int
    rolled_back: int


class ClusterBrief(BaseModel):
    agent_id: uuid.UUID
    scan_id: uuid.UUID
    cluster_id: uuid.UUID
    label: str
    cause: str
    size: int
    impact: float


class AgentQualityBrief(BaseModel):
    agent_id: uuid.UUID
    name: str
    slug: str
    quality: AgentQuality


class MorningBriefingRead(BaseModel):
    since: UtcDateTime
    until: UtcDateTime
    traces: BriefingTraces
    scans: BriefingScans
    changesets: BriefingChangeSets
    top_clusters: list[ClusterBrief] = Field(
        description="the largest-impact failure clusters of each agent's latest succeeded scan"
    )
    quality: list[AgentQualityBrief] = Field(
        default_factory=list, description="online quality per agent over the period, by hour"
    )
    lines: list[str] = Field(description="the briefing in short plain-language lines")


class StageCounts(BaseModel):
    agents: int
    agents_with_replay_url: int
    rubrics: int
    objectives: int
    sample_sets: int
    traces: int
    scans: dict[str, int] = Field(description="per status, every status present")
    changesets: dict[str, int] = Field(description="per status, every status present")


MissingStepKey = Literal[
    "create_agent",
    "send_traces",
    "create_rubric",
    "create_objective",
    "set_replay_url",
    "run_scan",
    "review_changesets",
]


class MissingStep(BaseModel):
    key: MissingStepKey
    message: str


class WorkflowOverviewRead(BaseModel):
    counts: StageCounts
    next_steps: list[MissingStep] = Field(description="in the order the workflow needs them")
