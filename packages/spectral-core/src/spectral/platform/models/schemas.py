"""Request and response shapes of the model gateway: operations' model configs, model health and a
scan's cost by model."""

from __future__ import annotations

import uuid
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from spectral.platform.models.circuit import CircuitState
from spectral.platform.models.models import ModelRole
from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.schema_types import JsonBool, JsonFloat, JsonInt, NotNull

ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PerMillion = Annotated[JsonFloat, Field(ge=0, le=100_000, description="USD per 1M tokens")]
ContextWindow = Annotated[
    JsonInt, Field(ge=1, le=100_000_000, description="tokens, prompt and answer together")
]


def _unique_roles(roles: list[ModelRole] | None) -> None:
    if roles is not None and len(set(roles)) != len(roles):
        raise ValueError("roles must not repeat")


class ModelConfigCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(description="the name sent to the provider, matched exactly")
    input_per_million: PerMillion | None = Field(default=None, description="overrides the catalog price")
    output_per_million: PerMillion | None = None
    context_window: ContextWindow | None = None
    enabled: JsonBool = True
    roles: list[ModelRole] = Field(default_factory=list, description="the default model of these roles")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.input_per_million is None) != (self.output_per_million is None):
            raise ValueError("input_per_million and output_per_million are set together")
        _unique_roles(self.roles)
        return self


class ModelConfigUpdate(BaseModel):
    """Only the fields sent change; send both prices as null to go back to the catalog price."""

    model_config = ConfigDict(extra="forbid")

    input_per_million: PerMillion | None = None
    output_per_million: PerMillion | None = None
    context_window: ContextWindow | None = None
    enabled: NotNull[JsonBool] = None
    roles: NotNull[list[ModelRole]] = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        sent = self.model_fields_set
        if ("input_per_million" in sent) != ("output_per_million" in sent) or (
            (self.input_per_million is None) != (self.output_per_million is None)
        ):
            raise ValueError("input_per_million and output_per_million are set together")
        _unique_roles(self.roles)
        return self


class ModelConfigRead(BaseModel):
    id: uuid.UUID
    model: str
    input_per_million: float | None
    output_per_million: float | None
    context_window: int | None
    enabled: bool
    roles: list[str]
    catalog_price: bool = Field(description="true when the price comes from the catalog (no override)")
    priced: bool = Field(description="false: no override and no catalog price, so calls are refused")
    updated_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ModelHealthRead(BaseModel):
    provider: str
    model: str
    calls: int = Field(description="every ledgered call in the window, cached and refused included")
    succeeded: int
    errors: int
    cached: int
    refused: int = Field(description="refused without a request because the circuit was open")
    error_rate: float | None = Field(description="errors / (succeeded + errors); null without attempts")
    p50_latency_ms: int | None
    p95_latency_ms: int | None
    last_error: str | None
    last_error_at: UtcDateTime | None
    circuit_state: CircuitState


class ModelHealthReport(BaseModel):
    provider: str | None = Field(description="the configured provider; null = no gateway, scans run offline")
    judge_model: str | None
    proposer_model: str | None
    window_start: UtcDateTime
    models: list[ModelHealthRead]


class ModelCostRead(BaseModel):
    model: str
    calls: int = Field(description="calls that reached the provider or the cache")
    cached_calls: int
    failed_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class ScanModelCostRead(BaseModel):
    scan_id: uuid.UUID
    models: list[ModelCostRead]
    total_calls: int
    total_input_tokens: int
    total_output_tokens: int
    total_cost_usd: float
