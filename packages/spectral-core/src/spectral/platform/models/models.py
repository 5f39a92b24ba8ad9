"""The model gateway's tables: operations' per-model settings, the call ledger and the response cache.

The ledger is the one record of model spending: scan cost and model health are both read from it,
and a resumed scan starts its budget from what the ledger says it already spent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import json_column, utc_column
from spectral.platform.shared.ids import new_id


class ModelRole(StrEnum):
    JUDGE = "judge"
    PROPOSER = "proposer"


class CallPurpose(StrEnum):
    JUDGE = "judge"
    PROPOSER = "proposer"
    REPLAY = "replay"
    ASSISTANT = "assistant"


class CallStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    CACHED = "cached"
    CIRCUIT_OPEN = "circuit_open"


class ModelConfig(SQLModel, table=True):
    """Operations' settings for one model name: a price override (else the catalog), its context
    window, whether it may be called at all, and the roles it is the default model of."""

    __tablename__ = "model_configs"
    __table_args__ = (sa.UniqueConstraint("model", name="uq_model_configs_model"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    model: str = Field(max_length=200)
    input_per_million: float | None = None
    output_per_million: float | None = None
    context_window: int | None = None
    enabled: bool = True
    roles: list[str] = Field(default_factory=list, sa_column=json_column())
    updated_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ModelCall(SQLModel, table=True):
    """One logical gateway call (retries included): what it cost, how long it took, how it ended.

    Refused calls (open circuit) and cache hits are ledgered too, with zero tokens and cost, so
    health sees refusals and a scan's cost shows what a re-run saved."""

    __tablename__ = "model_calls"
    __table_args__ = (sa.Index("ix_model_calls_model_created_at", "model", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    # No foreign key: the gateway sits below scans in the layers, and spending stays on record
    # even when a scan row is deleted.
    scan_id: uuid.UUID | None = Field(default=None, index=True)
    model: str = Field(max_length=200)
    provider: str = Field(max_length=20)
    purpose: str = Field(max_length=20)
    status: str = Field(max_length=20)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    attempts: int = 0
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ModelResponse(SQLModel, table=True):
    """A cached completion keyed by (model, prompt hash, params hash) within a workspace, so a
    re-run of the same scan costs nothing and one tenant never learns what another asked."""

    __tablename__ = "model_response_cache"
    __table_args__ = (
        sa.UniqueConstraint(
            "workspace_id", "model", "prompt_hash", "params_hash", name="uq_model_response_cache_key"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", ondelete="CASCADE")
    model: str = Field(max_length=200)
    prompt_hash: str = Field(max_length=64)
    params_hash: str = Field(max_length=64)
    output: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    finish_reason: str | None = Field(default=None, max_length=40)
    input_tokens: int = 0
    output_tokens: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
