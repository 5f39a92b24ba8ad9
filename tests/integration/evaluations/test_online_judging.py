"""Online `llm_judge` scoring with a model configured (an OpenAI-compatible server on loopback):
judged within the workspace's daily online budget and ledgered outside any scan, and a scan over
the same traces with the same rubric version reuses those judgments instead of buying them again."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from fixtures_identity import Tenant
from integration.evaluations.test_online_scoring import create_agent, ingest, span
from integration.models.gateway_support import gateway_settings
from integration.models.llm_servers import ScriptedLLMServer, running
from spectral.engine.scoring.evaluation import judge_traces
from spectral.platform.evaluations import online
from spectral.platform.evaluations.service import load_rubric
from spectral.platform.models.models import ModelCall
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Environment, Settings
from spectral.platform.traces.queries import load_engine_traces
from testenv import TEST_JWT_SECRET

pytestmark = pytest.mark.both_backends

JUDGED = {
    "key": "helpful",
    "scorer": {"type": "llm_judge", "params": {"criteria": "Does the answer help?"}},
    "threshold": 0.5,
}


@pytest.fixture
def judge_server() -> Iterator[ScriptedLLMServer]:
    with running("openai") as server:
        server.answer = json.dumps({"score": 0.9, "reason": "helps"})
        server.input_tokens, server.output_tokens = 400, 30
        yield server


@pytest.fixture
def online_budget_usd() -> float:
    return 1.0


@pytest.fixture
def settings(tmp_path: Path, judge_server: ScriptedLLMServer, online_budget_usd: float) -> Settings:
    base = Settings(
        env=Environment.TEST,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
        replay_allow_private=True,
    )
    return gateway_settings(base, judge_server, online_judge_daily_budget_usd=online_budget_usd)


async def judged_agent(client: httpx.AsyncClient, tenant: Tenant) -> str:
    agent_id = await create_agent(client, tenant, "support-bot")
    rubric = await client.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": "Judged", "dimensions": [{"key": "ok", "scorer": {"type": "no_error"}}, JUDGED]},
        headers=tenant.headers,
    )
    assert rubric.status_code == 201, rubric.text
    rubric_id = str(rubric.json()["id"])
    patched = await client.patch(
        f"{tenant.ws}/agents/{agent_id}", json={"online_rubric_id": rubric_id}, headers=tenant.headers
    )
    assert patched.status_code == 200, patched.text
    return rubric_id


async def online_calls(db: Database, tenant: Tenant) -> list[ModelCall]:
    async with db.session() as session:
        rows = await session.exec(
            select(ModelCall).where(
                ModelCall.workspace_id == tenant.workspace_id, col(ModelCall.scan_id).is_(None)
            )
        )
        return list(rows.all())


async def test_llm_judge_dimensions_are_judged_online_and_reused_by_a_scan(
    client: httpx.AsyncClient,
    tenant: Tenant,
    queue: InProcessQueue,
    db: Database,
    judge_server: ScriptedLLMServer,
) -> None:
    rubric_id = await judged_agent(client, tenant)
    ids = [uuid.uuid4().hex for _ in range(3)]
    await ingest(client, tenant, [span(t, "support-bot", f"answer {i}") for i, t in enumerate(ids)])
    await queue.join()

    assert judge_server.count == 3
    detail = (await client.get(f"{tenant.ws}/traces/{ids[0]}", headers=tenant.headers)).json()
    assert detail["scores"]["dimensions"]["helpful"] == {"score": 0.9, "passed": True, "reason": "helps"}
    assert detail["score"] == pytest.approx(0.95)
    calls = await online_calls(db, tenant)
    assert len(calls) == 3
    assert {c.purpose for c in calls} == {"judge"}

    # What a scan over these traces with this rubric version would judge comes from storage.
    async with db.session() as session:
        traces = await load_engine_traces(session, tenant.workspace_id)
        rubric = await load_rubric(session, tenant.workspace_id, uuid.UUID(rubric_id))
        judge = await online.reusing_judge(session, tenant.workspace_id, uuid.UUID(rubric_id), traces, None)
    assert isinstance(judge, online.ReusingJudge)
    run = await judge_traces(traces, rubric, judge)
    assert {key: score.score for key, score in run.judgments.items()} == {(t, "helpful"): 0.9 for t in ids}
    assert judge.reused == 3
    assert judge_server.count == 3

    # A new rubric version makes the stored judgments stale: nothing is reused any more.
    edited = await client.patch(
        f"{tenant.ws}/evaluations/rubrics/{rubric_id}",
        json={"dimensions": [{**JUDGED, "threshold": 0.95}]},
        headers=tenant.headers,
    )
    assert edited.json()["version"] == 2
    async with db.session() as session:
        stale = await online.reusing_judge(session, tenant.workspace_id, uuid.UUID(rubric_id), traces, None)
    assert stale is None


@pytest.mark.parametrize("online_budget_usd", [0.0])
async def test_without_online_budget_llm_judge_stays_unscored_and_nothing_is_spent(
    client: httpx.AsyncClient,
    tenant: Tenant,
    queue: InProcessQueue,
    db: Database,
    judge_server: ScriptedLLMServer,
) -> None:
    await judged_agent(client, tenant)
    trace = uuid.uuid4().hex
    await ingest(client, tenant, [span(trace, "support-bot", "answer")])
    await queue.join()
    assert judge_server.count == 0
    assert await online_calls(db, tenant) == []
    detail: dict[str, Any] = (await client.get(f"{tenant.ws}/traces/{trace}", headers=tenant.headers)).json()
    helpful = detail["scores"]["dimensions"]["helpful"]
    assert helpful["score"] is None
    assert helpful["passed"] is None
    # Quality is the mean of what was scored: the deterministic dimension alone.
    assert detail["score"] == 1.0
