"""Model health from the ledger: counts, error rate, nearest-rank p50/p95 latency, the last error
and the circuit state the ledger implies, on both databases."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from spectral.platform.models import service
from spectral.platform.models.circuit import CircuitState
from spectral.platform.models.models import CallStatus, ModelCall
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import LLMProvider, Settings

pytestmark = pytest.mark.both_backends


def call(
    workspace_id: uuid.UUID,
    model: str,
    status: CallStatus,
    at: datetime,
    *,
    latency_ms: int = 0,
    error: str | None = None,
) -> ModelCall:
    return ModelCall(
        workspace_id=workspace_id,
        model=model,
        provider="openai",
        purpose="judge",
        status=status.value,
        latency_ms=latency_ms,
        error=error,
        created_at=at,
    )


async def test_health_aggregates_the_ledger_per_model(
    db: Database, settings: Settings, workspace_id: uuid.UUID
) -> None:
    now = utcnow()
    ok, error, cached, refused = CallStatus.OK, CallStatus.ERROR, CallStatus.CACHED, CallStatus.CIRCUIT_OPEN
    rows = [
        # Outside the 24-hour window: not counted.
        call(workspace_id, "gpt-4o-mini", error, now - timedelta(days=2), error="ancient"),
        call(workspace_id, "gpt-4o-mini", error, now - timedelta(hours=3), error="HTTP 500: first"),
        call(workspace_id, "gpt-4o-mini", error, now - timedelta(hours=2), error="HTTP 503: latest"),
        *[
            call(workspace_id, "gpt-4o-mini", ok, now - timedelta(minutes=60 - i), latency_ms=10 * (i + 1))
            for i in range(20)
        ],
        *[call(workspace_id, "gpt-4o-mini", cached, now - timedelta(minutes=5)) for _ in range(3)],
        # Three failures within the cool-down (30 s): open, with a refusal since.
        *[
            call(workspace_id, "gpt-4o", error, now - timedelta(seconds=20 - i), error="timeout")
            for i in range(3)
        ],
        call(workspace_id, "gpt-4o", refused, now - timedelta(seconds=5), error="circuit open"),
        # Three failures long before the cool-down ended: half-open, the next call is a probe.
        *[
            call(workspace_id, "gpt-4.1", error, now - timedelta(hours=1, seconds=-i), error="HTTP 500")
            for i in range(3)
        ],
    ]
    async with db.session() as session:
        session.add_all(rows)
    configured = settings.model_copy(
        update={
            "llm_provider": LLMProvider.OPENAI,
            "llm_judge_model": "gpt-4o-mini",
            "llm_circuit_failures": 3,
            "llm_circuit_cooldown_s": 30.0,
        }
    )

    async with db.session() as session:
        report = await service.model_health(session, configured, now=now)

    assert (report.provider, report.judge_model, report.proposer_model) == ("openai", "gpt-4o-mini", None)
    by_model = {m.model: m for m in report.models}
    assert list(by_model) == ["gpt-4.1", "gpt-4o", "gpt-4o-mini"]

    mini = by_model["gpt-4o-mini"]
    assert (mini.calls, mini.succeeded, mini.errors, mini.cached, mini.refused) == (25, 20, 2, 3, 0)
    assert mini.error_rate == pytest.approx(2 / 22, abs=1e-4)
    assert (mini.p50_latency_ms, mini.p95_latency_ms) == (100, 190)
    assert mini.last_error == "HTTP 503: latest"
    assert mini.last_error_at is not None
    assert abs((mini.last_error_at - (now - timedelta(hours=2))).total_seconds()) < 1
    assert mini.circuit_state is CircuitState.CLOSED

    four_o = by_model["gpt-4o"]
    assert (four_o.calls, four_o.errors, four_o.refused, four_o.error_rate) == (4, 3, 1, 1.0)
    assert (four_o.p50_latency_ms, four_o.p95_latency_ms) == (None, None)
    assert four_o.circuit_state is CircuitState.OPEN

    assert by_model["gpt-4.1"].circuit_state is CircuitState.HALF_OPEN


async def test_without_a_provider_health_says_so(db: Database, settings: Settings) -> None:
    async with db.session() as session:
        report = await service.model_health(session, settings)
    assert (report.provider, report.judge_model, report.proposer_model, report.models) == (
        None,
        None,
        None,
        [],
    )
