"""Read models of the supervisor: what it is allowed to do, what it did, and what it would do."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from spectral.platform.changesets.schemas import ClusterSummary
from spectral.platform.evaluations.schemas import QualityDrop
from spectral.platform.scans.schemas import ScanRead
from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.workspaces.schemas import AutonomyLevel, Guardrails


class SupervisorAction(BaseModel):
    id: uuid.UUID
    action: str
    resource_type: str
    resource_id: str | None
    after: dict[str, Any] | None
    created_at: UtcDateTime


class WaitingChangeSet(BaseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    scan_id: uuid.UUID | None
    title: str
    strategy: str
    expected_impact: dict[str, Any]
    created_at: UtcDateTime
    held_back: list[str] = Field(
        description="why the supervisor does not apply it itself: the autonomy level, or each guardrail "
        "its validation does not meet with confidence (the rule auto-apply follows); empty when "
        "auto-apply could, which applies one change set per scan",
    )


class SupervisorStateRead(BaseModel):
    autonomy_level: AutonomyLevel
    guardrails: Guardrails
    recent_actions: list[SupervisorAction] = Field(
        description="audit log entries by the supervisor, newest first"
    )
    waiting_for_human: list[WaitingChangeSet] = Field(description="recommended change sets, oldest first")


NextActionKind = Literal[
    "send_traces", "create_rubric", "create_objective", "review_changeset", "run_scan", "none"
]


class ApiCall(BaseModel):
    method: Literal["GET", "POST"]
    path: str
    body: dict[str, Any] | None = None


class NextActionRead(BaseModel):
    action: NextActionKind
    reason: str
    call: ApiCall | None = Field(description="the API call that takes the step; null when there is none")
    quality_drop: QualityDrop | None = Field(
        default=None,
        description="the measured drop behind a run_scan proposal, with its window and threshold",
    )


class PlannedScan(BaseModel):
    agent_id: uuid.UUID
    agent_name: str
    rubric_id: uuid.UUID
    objective_id: uuid.UUID
    budget_usd: float = Field(description="this scan's equal share of the nightly budget")
    reason: str


class NightlyPlanRead(BaseModel):
    nightly_budget_usd: float
    scans: list[PlannedScan]


class NightlyRunRead(BaseModel):
    scans: list[ScanRead]


class ModelPoint(BaseModel):
    model: str
    traces: int
    quality: float = Field(description="mean evaluated score, or the share of traces without error")
    quality_source: Literal["score", "no_error_share"]
    mean_cost_usd: float | None
    on_frontier: bool = Field(description="no other model is at least as good and at most as costly")


class AgentFrontier(BaseModel):
    agent_id: uuid.UUID
    agent_name: str
    models: list[ModelPoint]


class FrontierReportRead(BaseModel):
    since: UtcDateTime
    agents: list[AgentFrontier]


class ChangeSetRef(BaseModel):
    id: uuid.UUID
    title: str
    status: str
    verdict: str


class FailureClusterRead(ClusterSummary):
    agent_id: uuid.UUID
    scan_id: uuid.UUID
    changesets: list[ChangeSetRef]


class FailuresRead(BaseModel):
    clusters: list[FailureClusterRead] = Field(description="largest impact first")
