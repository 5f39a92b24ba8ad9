"""Request and response shapes of the agents context (the config shape is API.md's)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.schema_types import JsonFloat, JsonInt, NotNull, PositiveInt64

# SQLite hands datetimes back naive; every response states UTC.
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]
TemplateName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")]
TemplateText = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class ModelParams(BaseModel):
    """Sampling params; the common ones are checked, provider-specific extras pass through."""

    model_config = ConfigDict(extra="allow")

    temperature: JsonFloat | None = Field(default=None, ge=0, le=2)
    top_p: JsonFloat | None = Field(default=None, gt=0, le=1)
    max_tokens: JsonInt | None = Field(default=None, ge=1, le=1_000_000)
    presence_penalty: JsonFloat | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: JsonFloat | None = Field(default=None, ge=-2, le=2)
    seed: JsonInt | None = None
    stop: list[str] | None = Field(default=None, max_length=16)


class ConfigBody(BaseModel):
    """`{"model", "params", "templates": {name: text}, "tools"}`; template texts are stored as
    managed template versions that the config version pins."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200)
    params: ModelParams = Field(default_factory=ModelParams)
    templates: dict[TemplateName, TemplateText] = Field(default_factory=dict, max_length=50)
    tools: list[dict[str, Any]] = Field(default_factory=list, max_length=200)

    def params_dict(self) -> dict[str, Any]:
        return self.params.model_dump(exclude_none=True)


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    slug: Slug
    description: str | None = Field(default=None, max_length=2000)
    replay_url: str | None = Field(default=None, min_length=1, max_length=2000)
    config: ConfigBody | None = None


class AgentUpdate(BaseModel):
    """Only the fields sent change; `replay_url: null` removes it."""

    model_config = ConfigDict(extra="forbid")

    name: NotNull[str] = Field(default=None, min_length=1, max_length=200)
    slug: NotNull[Slug] = None
    description: str | None = Field(default=None, max_length=2000)
    replay_url: str | None = Field(default=None, min_length=1, max_length=2000)
    online_rubric_id: uuid.UUID | None = Field(
        default=None, description="score every ingested trace with this rubric; null stops online scoring"
    )
    online_sample_rate: NotNull[JsonFloat] = Field(
        default=None, ge=0, le=1, allow_inf_nan=False, description="share of traces scored online (0..1)"
    )


class AgentRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    slug: str
    description: str | None
    replay_url: str | None
    active_version: int | None
    online_rubric_id: uuid.UUID | None = None
    online_sample_rate: float = 1.0
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ConfigVersionCreate(ConfigBody):
    note: str | None = Field(default=None, max_length=2000)


class ConfigVersionRead(BaseModel):
    agent_id: uuid.UUID
    number: int
    active: bool
    config: dict[str, Any] = Field(description="model, params, templates (texts resolved), tools")
    template_versions: dict[str, int] = Field(description="the managed template version each name pins")
    etag: str
    note: str | None
    created_by: str
    created_at: UtcDateTime


class RuntimeConfig(BaseModel):
    """What an agent fetches at runtime: its active config with the template texts."""

    agent_id: uuid.UUID
    version: int
    model: str
    params: dict[str, Any]
    templates: dict[str, str]
    tools: list[dict[str, Any]]


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TemplateName
    text: TemplateText


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: TemplateText


class TemplateRead(BaseModel):
    name: str
    version: int = Field(description="the latest version")
    text: str
    variables: list[str]
    created_at: UtcDateTime
    updated_at: UtcDateTime


class TemplateVersionRead(BaseModel):
    name: str
    version: int
    text: str
    variables: list[str]
    source: str
    created_by: str
    created_at: UtcDateTime


class TemplateRender(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variables: dict[str, str] = Field(default_factory=dict)
    version: PositiveInt64 | None = Field(default=None, description="unset = the latest version")


class RenderedTemplate(BaseModel):
    name: str
    version: int
    text: str
