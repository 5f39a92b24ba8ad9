"""The engine's Judge and Generator through the gateway, against a real OpenAI-compatible server on
127.0.0.1: prompts, JSON verdict parsing, declining instead of guessing, budget, cache, and the
model each role resolves to."""

from __future__ import annotations

import json
import uuid

import pytest

from integration.models.gateway_support import Ledger, MakeGateway, add_config
from integration.models.llm_servers import ScriptedLLMServer
from spectral.engine.errors import BudgetExhausted
from spectral.engine.protocols import Generator, Judge, JudgeScore
from spectral.engine.scoring.evaluation import judge_traces
from spectral.engine.types import Dimension, Rubric, ScorerSpec, ScorerType, Trace
from spectral.platform.models.budget import Budget
from spectral.platform.models.gateway import CallContext
from spectral.platform.models.judge import JUDGE_SYSTEM, GatewayJudge, parse_judgement
from spectral.platform.models.models import CallPurpose
from spectral.platform.models.scan_models import scan_models
from spectral.platform.shared.db import Database

VERDICT = 'Let me check.\n```json\n{"score": 0.8, "reason": "Correct and brief."}\n```'


def dimension(**params: str) -> Dimension:
    return Dimension(
        key="correct",
        name="Correctness",
        description="The answer is factually right.",
        scorer=ScorerSpec(ScorerType.LLM_JUDGE, {"criteria": "Is the arithmetic right?", **params}),
        threshold=0.7,
    )


def trace(trace_id: str = "t1", output: str = "4") -> Trace:
    return Trace(trace_id=trace_id, input="What is 2 + 2?", output=output, expected_output="4")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"score": 0.8, "reason": "ok"}', JudgeScore(0.8, "ok")),
        (VERDICT, JudgeScore(0.8, "Correct and brief.")),
        ('Verdict: {"score": "0.25", "reason": "partly"} -- done', JudgeScore(0.25, "partly")),
        ('{"note": "thinking"} then {"score": 1, "reason": "all good"}', JudgeScore(1.0, "all good")),
        ('{"score": 0}', JudgeScore(0.0, "")),
        ("I would give it 8 out of 10.", None),
        ('{"score": 8, "reason": "out of ten"}', None),
        ('{"score": -0.1}', None),
        ('{"score": NaN}', None),
        ('{"score": true}', None),
        ('{"score": "high"}', None),
        ('{"reason": "no score"}', None),
        ('{"score": 0.5, ', None),
        ("", None),
    ],
)
def test_parse_judgement(answer: str, expected: JudgeScore | None) -> None:
    assert parse_judgement(answer) == expected


@pytest.fixture
def scan_id() -> uuid.UUID:
    return uuid.uuid4()


async def test_the_judge_scores_a_trace_from_a_json_verdict(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    workspace_id: uuid.UUID,
    scan_id: uuid.UUID,
    ledger: Ledger,
) -> None:
    openai_server.answer = VERDICT
    models = await scan_models(
        make_gateway(openai_server), workspace_id=workspace_id, scan_id=scan_id, budget_usd=1
    )
    assert isinstance(models.judge, Judge)

    score = await models.judge.judge(dimension(), trace())

    assert score == JudgeScore(0.8, "Correct and brief.")
    [sent] = openai_server.requests
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["temperature"] == 0.0
    system, user = sent.body["messages"]
    assert system == {"role": "system", "content": JUDGE_SYSTEM}
    prompt = user["content"]
    for part in (
        "Correctness",
        "factually right",
        "Is the arithmetic right?",
        "What is 2 + 2?",
        "<expected>\n4\n",
    ):
        assert part in prompt
    assert "<output>\n4\n</output>" in prompt
    [call] = await ledger()
    assert (call.purpose, call.scan_id, call.status) == ("judge", scan_id, "ok")
    assert models.budget.spent_usd == pytest.approx(call.cost_usd)

    # Judging the same trace again (a re-run) is free.
    assert await models.judge.judge(dimension(), trace()) == score
    assert openai_server.count == 1


async def test_the_judge_declines_instead_of_guessing(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, workspace_id: uuid.UUID, ledger: Ledger
) -> None:
    gateway = make_gateway(openai_server, llm_max_retries=0)
    context = CallContext(workspace_id, None, CallPurpose.JUDGE)
    judge = GatewayJudge(gateway, context, Budget(1.0), "gpt-4o-mini")

    openai_server.answer = "Looks right to me, 9/10."
    assert await judge.judge(dimension(), trace(output="4")) is None
    openai_server.fail(400)
    assert await judge.judge(dimension(), trace(output="four")) is None
    assert [c.status for c in await ledger()] == ["ok", "error"]

    no_model = GatewayJudge(gateway, context, Budget(1.0), None)
    assert await no_model.judge(dimension(), trace(output="IV")) is None
    assert openai_server.count == 2


async def test_a_dimension_can_name_its_judge_model(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, workspace_id: uuid.UUID, scan_id: uuid.UUID
) -> None:
    openai_server.answer = VERDICT
    models = await scan_models(
        make_gateway(openai_server), workspace_id=workspace_id, scan_id=scan_id, budget_usd=1
    )
    await models.judge.judge(dimension(model="gpt-4.1-mini"), trace())
    assert openai_server.requests[0].body["model"] == "gpt-4.1-mini"


async def test_over_budget_the_judge_stops_judging(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, workspace_id: uuid.UUID, scan_id: uuid.UUID
) -> None:
    models = await scan_models(
        make_gateway(openai_server), workspace_id=workspace_id, scan_id=scan_id, budget_usd=0
    )
    with pytest.raises(BudgetExhausted):
        await models.judge.judge(dimension(), trace())
    assert openai_server.count == 0


async def test_the_engine_judges_a_batch_through_the_gateway(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    workspace_id: uuid.UUID,
    scan_id: uuid.UUID,
    ledger: Ledger,
) -> None:
    openai_server.answer = json.dumps({"score": 0.9, "reason": "fine"})
    models = await scan_models(
        make_gateway(openai_server), workspace_id=workspace_id, scan_id=scan_id, budget_usd=1
    )
    traces = [trace(f"t{i}", output=str(i)) for i in range(12)]

    run = await judge_traces(traces, Rubric((dimension(),)), models.judge)

    assert run.requested == 12
    assert not run.budget_exhausted
    assert set(run.judgments) == {(t.trace_id, "correct") for t in traces}
    assert openai_server.count == 12
    assert len(await ledger()) == 12


async def test_the_generator_returns_n_completions_and_reruns_for_free(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    workspace_id: uuid.UUID,
    scan_id: uuid.UUID,
    ledger: Ledger,
) -> None:
    openai_server.answer = "Answer with one number."
    models = await scan_models(
        make_gateway(openai_server), workspace_id=workspace_id, scan_id=scan_id, budget_usd=1
    )
    assert models.generator is not None
    assert isinstance(models.generator, Generator)

    texts = await models.generator.generate(
        "Rewrite the prompt.", system="You improve prompts.", n=3, max_tokens=300
    )

    assert texts == ["Answer with one number."] * 3
    assert openai_server.count == 3
    assert {r.body["model"] for r in openai_server.requests} == {"gpt-4o"}
    assert {r.body["temperature"] for r in openai_server.requests} == {0.7}
    assert {(c.purpose, c.status) for c in await ledger()} == {("proposer", "ok")}

    again = await models.generator.generate(
        "Rewrite the prompt.", system="You improve prompts.", n=3, max_tokens=300
    )
    assert again == texts
    assert openai_server.count == 3


async def test_the_generator_leaves_out_failed_completions_and_stops_over_budget(
    openai_server: ScriptedLLMServer, make_gateway: MakeGateway, workspace_id: uuid.UUID, scan_id: uuid.UUID
) -> None:
    gateway = make_gateway(openai_server, llm_max_retries=0)
    models = await scan_models(gateway, workspace_id=workspace_id, scan_id=scan_id, budget_usd=1)
    assert models.generator is not None
    openai_server.fail(400)
    assert len(await models.generator.generate("Rewrite.", n=3)) == 2

    broke = await scan_models(gateway, workspace_id=workspace_id, scan_id=uuid.uuid4(), budget_usd=0)
    assert broke.generator is not None
    with pytest.raises(BudgetExhausted):
        await broke.generator.generate("Rewrite again.", n=2)
    assert openai_server.count == 3


async def test_roles_come_from_operations_config_before_the_environment(
    openai_server: ScriptedLLMServer,
    make_gateway: MakeGateway,
    workspace_id: uuid.UUID,
    scan_id: uuid.UUID,
    db: Database,
) -> None:
    openai_server.answer = VERDICT
    await add_config(db, "gpt-4.1-nano", roles=["judge"])
    await add_config(db, "gpt-4o", enabled=False)
    models = await scan_models(
        make_gateway(openai_server), workspace_id=workspace_id, scan_id=scan_id, budget_usd=1
    )

    await models.judge.judge(dimension(), trace())
    assert openai_server.requests[0].body["model"] == "gpt-4.1-nano"
    # The environment's proposer model is disabled by operations: no rewrites.
    assert models.generator is None
