"""Change set, cluster, experiment and validation payloads."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from spectral.platform.agents.schemas import ConfigBody
from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.schema_types import JsonBool


class ClusterSummary(BaseModel):
    id: uuid.UUID
    label: str
    cause: str
    size: int
    share: float
    impact: float
    dismissed: bool


class ClusterRead(ClusterSummary):
    scan_id: uuid.UUID
    signature: dict[str, str]
    failing_dimensions: list[str]
    top_terms: list[str]
    exemplar_trace_ids: list[str]
    trace_ids: list[str]
    merged_into_id: uuid.UUID | None
    created_at: UtcDateTime


class ClusterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1, max_length=300)
    dismissed: JsonBool | None = None


class ClusterMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cluster_ids: list[uuid.UUID] = Field(min_length=2, max_length=50, description="the first one survives")

    @model_validator(mode="after")
    def _distinct(self) -> ClusterMerge:
        if len(set(self.cluster_ids)) != len(self.cluster_ids):
            raise ValueError("cluster_ids must be distinct")
        return self


class TraceMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_cluster_id: uuid.UUID


class ChangeSetRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    agent_id: uuid.UUID
    scan_id: uuid.UUID | None
    status: str
    strategy: str
    title: str
    rationale: str
    verdict: str
    estimated: bool
    diff: list[dict[str, Any]]
    candidate_config: dict[str, Any]
    base_version_number: int | None
    clusters: list[ClusterSummary]
    evidence_trace_ids: list[str]
    experiment: dict[str, Any] | None
    validation: dict[str, Any] | None
    expected_impact: dict[str, Any]
    previous_version_number: int | None
    promoted_version_number: int | None
    applied_templates: dict[str, Any] | None
    reject_reason: str | None
    decided_by: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ChangeSetAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    override: JsonBool = Field(
        default=False, description="required (true) to accept a change set whose verdict is `reject`"
    )


class ChangeSetReject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID
    candidate_config: ConfigBody | None = Field(
        default=None, description="a config in the API shape; or give changeset_id"
    )
    changeset_id: uuid.UUID | None = None
    sample_set_id: uuid.UUID
    rubric_id: uuid.UUID
    objective_id: uuid.UUID

    @model_validator(mode="after")
    def _one_candidate(self) -> ExperimentCreate:
        if (self.candidate_config is None) == (self.changeset_id is None):
            raise ValueError("give exactly one of candidate_config and changeset_id")
        return self


class ExperimentRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    agent_id: uuid.UUID
    changeset_id: uuid.UUID | None
    sample_set_id: uuid.UUID
    rubric_id: uuid.UUID
    objective_id: uuid.UUID
    candidate_config: dict[str, Any]
    status: str
    results: list[dict[str, Any]] | None
    aggregate: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: UtcDateTime
    finished_at: UtcDateTime | None


class ValidationRunRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    changeset_id: uuid.UUID
    status: str
    result: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: UtcDateTime
    finished_at: UtcDateTime | None
