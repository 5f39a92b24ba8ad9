"""Rubrics and objectives as the API takes and returns them (API.md, Rubrics and Objectives)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.schema_types import JsonBool, JsonFloat, JsonInt, NotNull

DimensionKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Score = Annotated[JsonFloat, Field(ge=0, le=1)]


class ScorerBody(BaseModel):
    """`{"type", "params"}`; params are checked per type by the engine's scorer builders."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=40, examples=["regex"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"pattern": "^\\{"}])


class DimensionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: DimensionKey
    name: str | None = Field(default=None, max_length=200, description="unset = the key")
    description: Description = ""
    weight: JsonFloat = Field(default=1.0, gt=0, allow_inf_nan=False)
    threshold: Score = Field(default=1.0, description="a trace passes when its score is at least this")
    scorer: ScorerBody


class RubricCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    agent_id: uuid.UUID | None = None
    dimensions: list[DimensionBody] = Field(min_length=1, max_length=50)


class RubricUpdate(BaseModel):
    """Only the fields sent change; `dimensions` replaces the whole list."""

    model_config = ConfigDict(extra="forbid")

    name: NotNull[Name] = None
    description: Description | None = None
    dimensions: NotNull[list[DimensionBody]] = Field(default=None, min_length=1, max_length=50)


class RubricRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    agent_id: uuid.UUID | None
    name: str
    description: str | None
    dimensions: list[dict[str, Any]]
    version: int = Field(description="bumped whenever the dimensions change; stored scores name it")
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class RescoreStarted(BaseModel):
    job_id: str
    rubric_id: uuid.UUID
    rubric_version: int = Field(description="the version the traces are re-scored with")
    agent_ids: list[uuid.UUID] = Field(description="agents whose traces are re-scored (their online rubric)")
    status: str = Field(examples=["queued"])


class RubricScoresRead(BaseModel):
    rubric_id: uuid.UUID
    rubric_version: int
    traces_scored: int = Field(description="traces holding scores of any version of the rubric")
    traces_at_current_version: int
    by_version: dict[str, int] = Field(description="rubric version -> traces scored with it")


class RubricGenerate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID
    name: Name | None = Field(default=None, description="unset = '<agent name> (generated)'")
    save: JsonBool = Field(default=False, description="store the draft as a rubric")
    limit: JsonInt = Field(default=5000, ge=10, le=50_000, description="most recent traces to read")


class DimensionEvidence(BaseModel):
    key: str
    reason: str
    observed: dict[str, Any]


class RubricDraft(BaseModel):
    """A rubric inferred from traces, with why each dimension is there."""

    name: str
    agent_id: uuid.UUID
    traces_analysed: int
    dimensions: list[dict[str, Any]]
    evidence: list[DimensionEvidence]
    rubric: RubricRead | None = Field(default=None, description="the stored rubric when `save` was true")


class SuggestionGroup(BaseModel):
    signature: dict[str, str | None]
    trace_count: int
    example_trace_ids: list[str]
    reason: str
    proposed_dimension: dict[str, Any] | None


class RubricSuggestions(BaseModel):
    rubric_id: uuid.UUID
    agent_id: uuid.UUID | None
    traces_analysed: int
    blind_spots: int = Field(description="traces with negative feedback or errors that pass every dimension")
    suggestions: list[SuggestionGroup]


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quality: JsonFloat = Field(default=1.0, ge=0, allow_inf_nan=False)
    cost: JsonFloat = Field(default=0.0, ge=0, allow_inf_nan=False)
    latency: JsonFloat = Field(default=0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _something_to_optimise(self) -> Self:
        if self.quality == self.cost == self.latency == 0:
            raise ValueError("at least one weight must be > 0")
        return self


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_cost_usd_per_trace: JsonFloat | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_p95_latency_ms: JsonFloat | None = Field(default=None, gt=0, allow_inf_nan=False)
    min_dimension: dict[str, Score] = Field(
        default_factory=dict, description="dimension key -> minimum score"
    )


class ObjectiveCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    rubric_id: uuid.UUID
    weights: Weights = Field(default_factory=Weights)
    constraints: Constraints = Field(default_factory=Constraints)


class ObjectiveUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NotNull[Name] = None
    description: Description | None = None
    rubric_id: NotNull[uuid.UUID] = None
    weights: NotNull[Weights] = None
    constraints: NotNull[Constraints] = None


class ObjectiveRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    rubric_id: uuid.UUID
    name: str
    description: str | None
    weights: dict[str, float]
    constraints: dict[str, Any]
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class QualityPoint(BaseModel):
    hour: UtcDateTime = Field(description="start of the hour (UTC) the traces started in")
    traces: int = Field(description="traces with an online score")
    mean_quality: float


class FailingDimensionRead(BaseModel):
    rubric_id: uuid.UUID
    dimension: str
    scored: int
    failed: int
    fail_rate: float


class AgentQuality(BaseModel):
    """An agent's online quality over a period: the mean of its traces' latest evaluation."""

    scored_traces: int
    mean_quality: float | None
    hourly: list[QualityPoint]
    failing_dimensions: list[FailingDimensionRead] = Field(description="most failed first, at most five")


class QualityDrop(BaseModel):
    """A measured quality drop: the recent window's mean against the week before it."""

    agent_id: uuid.UUID
    window_start: UtcDateTime
    window_end: UtcDateTime
    baseline_start: UtcDateTime
    baseline_end: UtcDateTime
    recent_mean: float
    baseline_mean: float
    drop: float = Field(description="baseline_mean - recent_mean")
    threshold: float = Field(description="the drop that counts (SPECTRAL_QUALITY_DROP_THRESHOLD)")
    recent_traces: int
    baseline_traces: int
