"""Request and response shapes of the Workspaces and Accounts groups."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from spectral.engine.types import (
    DEFAULT_MAX_COST_INCREASE_PCT,
    DEFAULT_MAX_LATENCY_INCREASE_PCT,
    DEFAULT_MIN_HOLDOUT_GAIN,
)
from spectral.platform.identity.scopes import AccountRole, WorkspaceRole
from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.schema_types import JsonFloat, NotNull

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]


class WorkspaceCreate(BaseModel):
    name: Name
    description: Description | None = None


class WorkspaceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NotNull[Name] = None
    description: Description | None = None


class WorkspaceRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    description: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class MemberRead(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str | None
    role: str
    created_at: UtcDateTime


class WorkspaceMemberCreate(BaseModel):
    user_id: uuid.UUID = Field(description="a member of the workspace's account")
    role: WorkspaceRole


class WorkspaceMemberUpdate(BaseModel):
    role: WorkspaceRole


class AutonomyLevel(StrEnum):
    OBSERVE = "observe"
    SUGGEST = "suggest"
    AUTO_APPLY = "auto_apply"


ChangeKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class Guardrails(BaseModel):
    """Limits the supervisor must respect before it may apply a change set on its own."""

    model_config = ConfigDict(extra="forbid")

    min_holdout_gain: JsonFloat = Field(
        default=DEFAULT_MIN_HOLDOUT_GAIN, ge=0, le=1, description="minimum objective gain on holdout"
    )
    max_cost_increase_pct: JsonFloat = Field(default=DEFAULT_MAX_COST_INCREASE_PCT, ge=0, le=1000)
    max_latency_increase_pct: JsonFloat = Field(default=DEFAULT_MAX_LATENCY_INCREASE_PCT, ge=0, le=1000)
    nightly_budget_usd: JsonFloat = Field(default=5.0, ge=0, le=100_000)
    require_human_for: list[ChangeKind] = Field(
        default_factory=lambda: ["model"],
        max_length=20,
        description="change kinds that always wait for a human",
    )


class Autonomy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: AutonomyLevel = AutonomyLevel.OBSERVE
    guardrails: Guardrails = Field(default_factory=Guardrails)


class AutonomyRead(Autonomy):
    updated_at: UtcDateTime | None
    updated_by: str | None


class QueueHealth(BaseModel):
    backend: str
    status: str
    depth: int | None = Field(
        description="this workspace's scans, experiments and validation runs waiting to run; "
        "null when the queue is unavailable"
    )


class WorkspaceHealth(BaseModel):
    """What is known about a workspace's moving parts right now."""

    workspace_id: uuid.UUID
    status: str
    database: str
    queue: QueueHealth
    active_api_keys: int
    members: int
    autonomy_level: AutonomyLevel


class AccountRead(BaseModel):
    id: uuid.UUID
    name: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class AccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


class AccountMemberUpdate(BaseModel):
    role: AccountRole


class InviteCreate(BaseModel):
    email: EmailStr
    role: AccountRole = AccountRole.MEMBER
    workspace_roles: dict[uuid.UUID, WorkspaceRole] = Field(default_factory=dict, max_length=100)


class InviteRead(BaseModel):
    id: uuid.UUID
    email: str
    role: AccountRole
    workspace_roles: dict[uuid.UUID, WorkspaceRole]
    created_at: UtcDateTime
    expires_at: UtcDateTime
    accepted_at: UtcDateTime | None


class InviteAccepted(BaseModel):
    account_id: uuid.UUID
    workspace_id: uuid.UUID | None


class TenantRead(BaseModel):
    id: uuid.UUID
    name: str
    created_at: UtcDateTime
    members: int
    workspaces: int
