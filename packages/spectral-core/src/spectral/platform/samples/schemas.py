"""Sample sets and items as the API takes and returns them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.schema_types import JsonBool, JsonInt, NotNull
from spectral.platform.shared.stored_json import json_depth
from spectral.platform.traces.schemas import TraceQuery

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
TraceId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
MAX_TEXT = 200_000
MAX_BATCH = 1000


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=40)
    content: str = Field(max_length=MAX_TEXT)


SampleInput = (
    Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
    | Annotated[list[MessageIn], Field(min_length=1, max_length=200)]
)


# Stored metadata must read back (and serialise) whole: nothing deeper is accepted.
MAX_METADATA_DEPTH = 16


class SampleItemCreate(BaseModel):
    """One sample: the input (text or a messages list, as a trace's root input), optionally the
    expected output, free metadata, and the trace it came from."""

    model_config = ConfigDict(extra="forbid")

    input: SampleInput
    expected_output: str | None = Field(default=None, max_length=MAX_TEXT)
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_trace_id: TraceId | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_is_shallow(cls, value: dict[str, Any]) -> dict[str, Any]:
        if json_depth(value) > MAX_METADATA_DEPTH:
            raise ValueError(f"metadata nests deeper than {MAX_METADATA_DEPTH} arrays/objects")
        return value

    def plain_input(self) -> str | list[dict[str, str]]:
        if isinstance(self.input, str):
            return self.input
        return [message.model_dump() for message in self.input]


class SampleItemsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[SampleItemCreate] = Field(min_length=1, max_length=MAX_BATCH)


class SampleItemRead(BaseModel):
    id: uuid.UUID
    sample_set_id: uuid.UUID
    input: str | list[dict[str, Any]]
    expected_output: str | None
    metadata: dict[str, Any]
    source_trace_id: str | None
    created_at: UtcDateTime


class ItemsAdded(BaseModel):
    added: int = Field(description="items stored")
    duplicates: int = Field(description="items skipped: their input is already in the set (or repeated)")
    items: list[SampleItemRead] = Field(description="the stored items")


class ImportResult(BaseModel):
    lines: int = Field(description="non-empty lines read")
    added: int
    duplicates: int


class SampleSetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    agent_id: uuid.UUID | None = None


class SampleSetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NotNull[Name] = None
    description: Description | None = None
    agent_id: uuid.UUID | None = None


class SampleSetRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    agent_id: uuid.UUID | None
    name: str
    description: str | None
    item_count: int
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class SamplesFromTraces(BaseModel):
    """A new sample set from the traces matching `filter` (the filters of `GET {ws}/traces`)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    agent_id: uuid.UUID | None = Field(default=None, description="unset = the agent the filter names, if any")
    filter: TraceQuery = Field(default_factory=TraceQuery)
    limit: JsonInt = Field(default=500, ge=1, le=10_000, description="traces to read, oldest first")
    include_output: JsonBool = Field(
        default=True, description="use each trace's output as the expected output"
    )


class FromTracesResult(BaseModel):
    sample_set: SampleSetRead
    traces_read: int
    added: int
    duplicates: int
    skipped: int = Field(description="traces without a usable input (none, or too large)")
