"""Fixtures of the model gateway tests: scripted provider servers on 127.0.0.1, gateways pointed at
them with fast retry and circuit settings, and the ledger as rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from integration.models.gateway_support import Ledger, MakeGateway, gateway_settings
from integration.models.llm_servers import ScriptedLLMServer, running
from spectral.platform.models.gateway import ModelGateway
from spectral.platform.models.models import ModelCall
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings


@pytest.fixture
def openai_server() -> Iterator[ScriptedLLMServer]:
    with running("openai") as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[ScriptedLLMServer]:
    with running("anthropic") as server:
        yield server


@pytest.fixture
async def make_gateway(db: Database, settings: Settings) -> AsyncIterator[MakeGateway]:
    gateways: list[ModelGateway] = []

    def make(server: ScriptedLLMServer, **overrides: Any) -> ModelGateway:
        gateway = ModelGateway.from_settings(db, gateway_settings(settings, server, **overrides))
        assert gateway is not None
        gateways.append(gateway)
        return gateway

    yield make
    for gateway in gateways:
        await gateway.aclose()


@pytest.fixture
def workspace_id(tenant: Any) -> uuid.UUID:
    workspace: uuid.UUID = tenant.workspace_id
    return workspace


@pytest.fixture
def ledger(db: Database, workspace_id: uuid.UUID) -> Ledger:
    async def rows() -> list[ModelCall]:
        async with db.session() as session:
            statement = (
                select(ModelCall)
                .where(ModelCall.workspace_id == workspace_id)
                .order_by(col(ModelCall.created_at))
            )
            return list((await session.exec(statement)).all())

    return rows
