"""Template inference request and result."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from spectral.platform.shared.schema_types import JsonBool, JsonInt


class InferTemplateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scan_id: uuid.UUID | None = Field(
        default=None,
        description="read only the prompts of the traces in this scan's window (a scan of this agent)",
    )
    span_name: str | None = Field(
        default=None, min_length=1, max_length=200, description="only LLM spans of this name"
    )
    limit: JsonInt = Field(default=2000, ge=10, le=10_000, description="most recent LLM span prompts to read")
    save: JsonBool = Field(
        default=False, description="store each best template as a new managed template version"
    )


class InferredSlot(BaseModel):
    name: str = Field(description="slot_N, or the kind of value when every value is one")
    kind: str | None = Field(description="email, url, date, id or number; null for free text")
    examples: list[str]
    distinct_values: int


class InferredTemplate(BaseModel):
    name: str = Field(description="the message role it templates (system, user) or `prompt` for plain text")
    text: str = Field(description="constant text with {{slots}}")
    slots: list[InferredSlot]
    matched: int = Field(description="prompts it explains")
    coverage: float = Field(description="share of this role's prompts it explains")
    saved_version: int | None = Field(default=None, description="the managed template version written (save)")


class PromptWindow(BaseModel):
    """The traces whose prompts are read: those that started in [start, end)."""

    start: datetime | None = None
    end: datetime | None = None


class InferenceResult(BaseModel):
    agent_id: uuid.UUID
    scan_id: uuid.UUID | None = None
    span_name: str | None
    prompts_analysed: int
    templates: list[InferredTemplate] = Field(description="the best template per role")
    alternatives: list[InferredTemplate] = Field(description="further templates found for a role")
