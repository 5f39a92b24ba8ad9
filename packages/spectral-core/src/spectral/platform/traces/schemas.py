"""Request and response shapes of the Traces and OTEL groups."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.schema_types import (
    BoolParam,
    IsoDateTime,
    JsonBool,
    JsonFloat,
    NonNegativeInt64,
)

MAX_NATIVE_SPANS = 10_000
_SCORE = Field(ge=0.0, le=1.0)

SpanKindName = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
StatusName = Literal["unset", "ok", "error"]
FeedbackKind = Literal["thumbs", "score", "label", "comment"]


# ------------------------------------------------------------------------------------------------
# Native ingest: the OTLP span model as plain JSON (flat attribute maps, times as RFC 3339 or ns)


class EventIn(BaseModel):
    name: str
    time: IsoDateTime | None = None
    time_unix_nano: NonNegativeInt64 | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class SpanIn(BaseModel):
    trace_id: str = Field(description="32 hex digits (the OTLP trace id)")
    span_id: str = Field(description="16 hex digits")
    parent_span_id: str | None = Field(default=None, description="absent or null for a root span")
    name: str
    kind: SpanKindName = "internal"
    start_time: IsoDateTime | None = None
    end_time: IsoDateTime | None = None
    start_time_unix_nano: NonNegativeInt64 | None = None
    end_time_unix_nano: NonNegativeInt64 | None = None
    status: StatusName = "unset"
    status_message: str | None = None
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Flat attribute map (GenAI, OpenInference or OpenLLMetry keys)"
    )
    events: list[EventIn] = Field(default_factory=list)
    resource: dict[str, Any] | None = Field(
        default=None, description="Resource attributes of this span; defaults to the batch's"
    )


class TracesIngest(BaseModel):
    resource: dict[str, Any] = Field(
        default_factory=dict, description="Resource attributes shared by the spans (e.g. service.name)"
    )
    spans: list[SpanIn] = Field(min_length=1, max_length=MAX_NATIVE_SPANS)

    @model_validator(mode="before")
    @classmethod
    def _not_an_otlp_request(cls, data: Any) -> Any:
        # The usual mix-up of the two endpoints: said as such, not as "spans: Field required".
        if (
            isinstance(data, dict)
            and "spans" not in data
            and ("resourceSpans" in data or "resource_spans" in data)
        ):
            raise ValueError(
                "this is an OTLP/JSON request (resourceSpans): POST it to /otel/v1/traces, "
                'or send {"resource": {...}, "spans": [...]} here'
            )
        return data


class IngestResult(BaseModel):
    accepted: int
    rejected: int
    errors: list[str] = Field(description="Why spans were rejected (the first few distinct reasons)")
    trace_ids: list[str]


# ------------------------------------------------------------------------------------------------
# Browsing


class TraceSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    trace_id: str
    name: str | None
    agent_key: str | None
    agent_id: uuid.UUID | None
    agent_version: str | None
    service_name: str | None
    session_id: str | None
    start_time: UtcDateTime
    end_time: UtcDateTime
    duration_ms: float
    span_count: int
    error_count: int
    status: str
    error_type: str | None
    error_message: str | None
    model: str | None
    finish_reason: str | None
    input: str | list[dict[str, Any]] | None
    output: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    score: float | None


class SpanRead(BaseModel):
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    span_kind: str
    service_name: str | None
    scope_name: str | None
    start_time: UtcDateTime
    end_time: UtcDateTime
    duration_ms: float
    status: str
    status_message: str | None
    error_type: str | None
    error_message: str | None
    model: str | None
    provider: str | None
    operation: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    cost_estimated: bool
    finish_reason: str | None
    tool_name: str | None
    agent_key: str | None
    agent_version: str | None
    input_text: str | None
    output_text: str | None
    input_messages: list[dict[str, Any]] | None
    output_messages: list[dict[str, Any]] | None
    attributes: dict[str, Any]
    resource_attributes: dict[str, Any]
    events: list[dict[str, Any]] | None
    links: list[dict[str, Any]] | None
    children: list[SpanRead] = Field(default_factory=list)


class FeedbackCreate(BaseModel):
    kind: FeedbackKind = Field(
        description="thumbs (value up/down or true/false), score (0..1), label, comment"
    )
    value: JsonBool | JsonFloat | str | None = None
    comment: str | None = Field(default=None, max_length=10_000)

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Self:
        value = self.value
        if self.kind == "thumbs":
            if not (isinstance(value, bool) or value in ("up", "down")):
                raise ValueError("thumbs feedback takes value 'up', 'down', true or false")
        elif self.kind == "score":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0.0 <= float(value) <= 1.0
            ):
                raise ValueError("score feedback takes a number between 0 and 1")
        elif self.kind == "label":
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise ValueError("label feedback takes a non-empty label of at most 200 characters")
        elif not (self.comment or (isinstance(value, str) and value.strip())):
            raise ValueError("comment feedback needs a comment")
        return self

    @property
    def score(self) -> float | None:
        if self.kind == "thumbs":
            return 1.0 if self.value in (True, "up") else 0.0
        if self.kind == "score":
            return float(self.value)  # type: ignore[arg-type]
        return None

    @property
    def label(self) -> str | None:
        return str(self.value).strip() if self.kind == "label" else None

    @property
    def comment_text(self) -> str | None:
        if self.kind == "comment" and not self.comment:
            return str(self.value)
        return self.comment


class FeedbackRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    trace_id: str
    kind: str
    value: bool | float | str | None
    score: float | None
    label: str | None
    comment: str | None
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    created_at: UtcDateTime


class FeedbackSummary(BaseModel):
    count: int
    mean_score: float | None


class TraceDetail(TraceSummary):
    spans: list[SpanRead] = Field(description="The span tree: root spans with their children")
    scores: dict[str, Any] | None
    feedback: list[FeedbackRead]
    feedback_summary: FeedbackSummary


# ------------------------------------------------------------------------------------------------
# OTLP ingest stats


class ServiceIngestStats(BaseModel):
    service_name: str | None
    received: int
    accepted: int
    rejected: int
    last_received_at: UtcDateTime | None


class IngestStatsRead(BaseModel):
    workspace_id: uuid.UUID
    received: int
    accepted: int
    rejected: int
    last_received_at: UtcDateTime | None
    by_service: list[ServiceIngestStats]


class TraceQuery(BaseModel):
    """Filters of traces, as a JSON object (e.g. the `filter` of `samples/from-traces`)."""

    agent: str | None = Field(default=None, description="Agent id or slug")
    start: UtcDateTime | None = Field(default=None, description="Traces that started at or after this time")
    end: UtcDateTime | None = Field(default=None, description="Traces that started before this time")
    status: Literal["ok", "error"] | None = None
    model: str | None = Field(default=None, description="Traces with an LLM span of this model")
    has_feedback: JsonBool | None = None
    min_score: Annotated[JsonFloat, _SCORE] | None = None
    max_score: Annotated[JsonFloat, _SCORE] | None = None
    q: str | None = Field(default=None, min_length=1, max_length=200, description="Text in input or output")


class TraceQueryParams(TraceQuery):
    """The same filters as the query parameters of `GET {ws}/traces`: text, so the flag is exactly
    `true` or `false` and a score its decimal text."""

    has_feedback: BoolParam | None = None
    min_score: Annotated[float, _SCORE] | None = None
    max_score: Annotated[float, _SCORE] | None = None
