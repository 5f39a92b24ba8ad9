"""Types and helpers the model gateway tests share with their fixtures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from integration.models.llm_servers import ScriptedLLMServer
from spectral.platform.models.gateway import ModelGateway
from spectral.platform.models.models import ModelCall, ModelConfig
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import LLMProvider, Settings

MakeGateway = Callable[..., ModelGateway]
Ledger = Callable[[], Awaitable[list[ModelCall]]]


def gateway_settings(settings: Settings, server: ScriptedLLMServer, **overrides: Any) -> Settings:
    """Settings pointing at `server`, with retries and the circuit fast enough for tests."""
    values: dict[str, Any] = {
        "llm_provider": LLMProvider(server.kind),
        "llm_base_url": server.base_url,
        "llm_api_key": "sk-test-key",
        "llm_judge_model": "gpt-4o-mini",
        "llm_proposer_model": "gpt-4o",
        "llm_timeout_s": 2.0,
        "llm_connect_timeout_s": 1.0,
        "llm_max_retries": 3,
        "llm_backoff_base_s": 0.01,
        "llm_backoff_max_s": 2.0,
        "llm_circuit_failures": 3,
        "llm_circuit_cooldown_s": 0.3,
    }
    values.update(overrides)
    return Settings.model_validate({**settings.model_dump(), **values})


async def add_config(
    db: Database,
    model: str,
    *,
    input_per_million: float | None = None,
    output_per_million: float | None = None,
    context_window: int | None = None,
    enabled: bool = True,
    roles: list[str] | None = None,
) -> None:
    async with db.session() as session:
        session.add(
            ModelConfig(
                model=model,
                input_per_million=input_per_million,
                output_per_million=output_per_million,
                context_window=context_window,
                enabled=enabled,
                roles=roles or [],
                updated_by="test",
            )
        )
