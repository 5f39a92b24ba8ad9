"""Agents, their numbered immutable config versions, and managed templates with immutable versions.

The agent row carries a copy of its active version's resolved config and ETag: the runtime config
read (`GET {ws}/agents/{id}/config`) is on every agent's hot path and is served from that one row.
Only `service.activate` writes those three columns, together.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import json_column, utc_column
from spectral.platform.shared.ids import new_id
from spectral.platform.shared.read_cache import watch


class Agent(SQLModel, table=True):
    __tablename__ = "agents"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "slug", name="uq_agents_workspace_id_slug"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    slug: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    replay_url: str | None = Field(default=None, max_length=2000)
    active_version_number: int | None = None
    # Denormalised from the active version, so the runtime read is a single primary-key lookup.
    active_config: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    active_etag: str | None = Field(default=None, max_length=80)
    # The rubric every ingested trace of the agent is scored with (sampled at this rate); no
    # foreign key, see migration 0008: the evaluations service checks it.
    online_rubric_id: uuid.UUID | None = None
    online_sample_rate: float = 1.0
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class AgentConfigVersion(SQLModel, table=True):
    """An immutable config: model, params, tools and the template versions it pins."""

    __tablename__ = "agent_config_versions"
    __table_args__ = (
        sa.UniqueConstraint("agent_id", "number", name="uq_agent_config_versions_agent_id_number"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    agent_id: uuid.UUID = Field(foreign_key="agents.id", ondelete="CASCADE")
    number: int
    model: str = Field(max_length=200)
    params: dict[str, Any] = Field(sa_column=json_column())
    tools: list[dict[str, Any]] = Field(sa_column=json_column())
    # template name -> pinned version number of the agent's managed template of that name
    template_refs: dict[str, int] = Field(sa_column=json_column())
    # The config in the API shape with the template texts resolved, and its content hash.
    resolved: dict[str, Any] = Field(sa_column=json_column())
    etag: str = Field(max_length=80)
    note: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class AgentTemplate(SQLModel, table=True):
    __tablename__ = "agent_templates"
    __table_args__ = (sa.UniqueConstraint("agent_id", "name", name="uq_agent_templates_agent_id_name"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    agent_id: uuid.UUID = Field(foreign_key="agents.id", ondelete="CASCADE")
    name: str = Field(max_length=100)
    latest_version: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class AgentTemplateVersion(SQLModel, table=True):
    """An immutable template text with the `{{variables}}` it declares."""

    __tablename__ = "agent_template_versions"
    __table_args__ = (
        sa.UniqueConstraint("template_id", "version", name="uq_agent_template_versions_template_id_version"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    template_id: uuid.UUID = Field(foreign_key="agent_templates.id", ondelete="CASCADE")
    version: int
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    variables: list[str] = Field(sa_column=json_column())
    source: str = Field(max_length=40)
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


# What the caches of agent rows depend on (see `shared.read_cache`): the runtime config
# (`service.runtime_document`) and what ingest knows of a workspace's agents (`service.ingest_agents`:
# their keys and which score online; a new agent resolves keys that resolved to nothing before).
watch(
    Agent,
    columns=("active_config", "active_etag", "slug", "online_rubric_id", "online_sample_rate"),
    owner=lambda agent: agent.workspace_id,
    inserts=True,
)
