"""Scan payloads: what the API accepts and returns."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spectral.engine.types import Strategy
from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.schema_types import IsoDateTime, JsonBool, JsonFloat, JsonInt


class ScanWindow(BaseModel):
    """Which traces to scan: a time range, and at most `max_traces` of them (newest first)."""

    model_config = ConfigDict(extra="forbid")

    start: IsoDateTime | None = None
    end: IsoDateTime | None = None
    max_traces: JsonInt = Field(default=20_000, ge=10, le=200_000)

    @model_validator(mode="after")
    def _ordered(self) -> ScanWindow:
        if self.start and self.end and self.start >= self.end:
            raise ValueError("window.start must be before window.end")
        return self


class ScanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID
    rubric_id: uuid.UUID
    objective_id: uuid.UUID
    sample_set_id: uuid.UUID | None = None
    window: ScanWindow = Field(default_factory=ScanWindow)
    holdout_fraction: JsonFloat = Field(default=0.3, ge=0.1, le=0.5)
    strategies: list[Strategy] | None = Field(
        default=None, min_length=1, description="default: every strategy the deployment can run"
    )
    budget_usd: JsonFloat = Field(default=1.0, ge=0, le=10_000, description="ceiling on model gateway spend")
    seed: JsonInt = Field(default=0, ge=0, le=2**31 - 1)
    replay_budget_calls: JsonInt | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="ceiling on replays of the agent; default: 2.5 per trace in the window (at least 3,000)",
    )
    replay_budget_usd: JsonFloat | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="ceiling on the agent's own replay spend (its reported cost_usd); default: the "
        "default calls at the traces' mean cost plus 50%",
    )
    material_saving_pct: JsonFloat = Field(
        default=10.0,
        gt=0,
        le=100,
        description="a change is judged by non-inferiority on quality (instead of superiority) only "
        "when it lowers cost or p95 latency by at least this much",
    )

    @field_validator("strategies")
    @classmethod
    def _distinct(cls, value: list[Strategy] | None) -> list[Strategy] | None:
        return None if value is None else list(dict.fromkeys(value))


class ScanRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    agent_id: uuid.UUID
    rubric_id: uuid.UUID
    objective_id: uuid.UUID
    sample_set_id: uuid.UUID | None
    schedule_id: uuid.UUID | None
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    phase: str | None
    progress: float
    parameters: dict[str, Any]
    summary: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    attempts: int
    created_by: str
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    heartbeat_at: UtcDateTime | None
    finished_at: UtcDateTime | None


class ScanEventRead(BaseModel):
    id: int
    phase: str
    level: str
    message: str
    data: dict[str, Any]
    created_at: UtcDateTime


class ScanEventsPage(BaseModel):
    results: list[ScanEventRead]
    next_after: int | None = Field(description="pass as ?after= to continue; null when nothing followed")


class ModelCost(BaseModel):
    model: str
    source: Literal["gateway", "replay"] = Field(
        description="gateway: Spectral's own model calls (judge, rewrites), counted against the budget; "
        "replay: what running the agent on replays cost, as its replay endpoint reported"
    )
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class ReplayBudgetRead(BaseModel):
    calls: int = Field(description="replays of the agent the scan made")
    cost_usd: float = Field(description="what they cost, as the replay target reported")
    budget_calls: int | None
    budget_usd: float | None
    stopped_by_budget: bool = Field(description="the budget cut the search or validation short")


class ScanCostRead(BaseModel):
    scan_id: uuid.UUID
    budget_usd: float
    gateway_cost_usd: float = Field(description="spend counted against budget_usd")
    replay: ReplayBudgetRead | None = Field(
        description="the replay budget and its use; null until the report"
    )
    models: list[ModelCost]
    total_calls: int
    total_input_tokens: int
    total_output_tokens: int
    total_cost_usd: float


def _valid_cron(expression: str) -> str:
    if not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} is not a valid cron expression (5 fields: m h dom mon dow)")
    if len(expression.split()) != 5:
        raise ValueError("use a 5-field cron expression (minute hour day-of-month month day-of-week)")
    return expression


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    cron: str = Field(examples=["0 3 * * *"])
    scan: ScanCreate
    enabled: JsonBool = True

    @field_validator("cron")
    @classmethod
    def _cron_is_valid(cls, value: str) -> str:
        return _valid_cron(value)


class ScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    cron: str | None = None
    scan: ScanCreate | None = None
    enabled: JsonBool | None = None

    @field_validator("cron")
    @classmethod
    def _cron_is_valid(cls, value: str | None) -> str | None:
        return None if value is None else _valid_cron(value)


class ScheduleRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    cron: str
    scan: dict[str, Any]
    enabled: bool
    next_run_at: UtcDateTime
    last_run_at: UtcDateTime | None
    last_scan_id: uuid.UUID | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ScanFailure(BaseModel):
    scan_id: uuid.UUID
    error: str | None
    finished_at: UtcDateTime | None


class ScanHealth(BaseModel):
    queued: int
    running: int
    stale: int = Field(description="running, but the worker's heartbeat is stale (the reaper will act)")
    failed_last_24h: int
    last_failure: ScanFailure | None
