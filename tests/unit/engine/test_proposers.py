"""Proposers build real fixes from the rubric, the errors and the traces."""

from dataclasses import replace

import numpy as np
import pytest

from spectral.engine.clustering import cluster_failures, find_failures
from spectral.engine.errors import BudgetExhausted
from spectral.engine.proposers import ProposalContext, few_shot, llm_rewrite, model_routing, playbook
from spectral.engine.proposers.base import (
    Edit,
    EditKind,
    answering_template,
    apply_edits,
    instruction_template,
)
from spectral.engine.scoring import objective_scales_from, score_traces
from spectral.engine.synthetic import (
    generate_workspace,
    has_format_instruction,
    has_scope_instruction,
    has_tool_guidance,
    max_tokens_of,
)
from spectral.engine.types import AgentConfig, CauseCategory, Message, ScanConfig, Strategy, Trace


@pytest.fixture(scope="module")
def context() -> ProposalContext:
    workspace = generate_workspace(11, 2000)
    table = score_traces(
        workspace.traces, workspace.rubric, workspace.objective, objective_scales_from(workspace.traces)
    )
    failures = find_failures(
        workspace.traces,
        table,
        workspace.rubric,
        reference_objective=float(np.median(table.objective[~table.failed])),
    )
    diagnosis = cluster_failures(failures, n_traces=2000, seed=11, min_cluster_size=5)
    return ProposalContext(
        baseline=workspace.baseline,
        rubric=workspace.rubric,
        objective=workspace.objective,
        traces=workspace.traces,
        table=table,
        clusters=diagnosis.clusters[:8],
        config=ScanConfig(seed=11),
    )


def _by_cause(context: ProposalContext, proposals, cause: CauseCategory):
    ids = {c.cluster_id for c in context.clusters if c.cause is cause}
    return [p for p in proposals if set(p.candidate.cluster_ids) & ids]


def test_playbook_fixes_are_built_from_the_evidence(context: ProposalContext) -> None:
    proposals = playbook.propose(context)
    for cause, check in (
        (CauseCategory.FORMAT, has_format_instruction),
        (CauseCategory.REFUSAL, has_scope_instruction),
    ):
        [proposal] = _by_cause(context, proposals, cause)
        assert check(apply_edits(context.baseline, proposal.edits)), cause
    tool = [
        p
        for p in _by_cause(context, proposals, CauseCategory.TOOL_ERROR)
        if "lookup_order" in p.candidate.rationale
    ]
    assert tool
    assert has_tool_guidance(apply_edits(context.baseline, tool[0].edits))
    assert "invalid order_id" in str(tool[0].edits[0].value)
    [truncation] = _by_cause(context, proposals, CauseCategory.TRUNCATION)
    assert (max_tokens_of(apply_edits(context.baseline, truncation.edits)) or 0) >= 384
    assert truncation.estimate is not None
    assert truncation.estimate.objective_gain > 0
    for proposal in proposals:
        assert proposal.candidate.rationale
        assert proposal.candidate.strategy is Strategy.PLAYBOOK
        assert not proposal.candidate.diff.is_empty


def test_playbook_skips_transient_tool_errors(context: ProposalContext) -> None:
    rationales = " ".join(p.candidate.rationale for p in playbook.propose(context))
    assert "track_shipment" not in rationales
    assert "search_kb" not in rationales


def test_format_instruction_states_the_schema_keys(context: ProposalContext) -> None:
    text = playbook.format_instruction(context.rubric.dimension("valid_json"))
    assert text is not None
    assert "JSON" in text
    assert '"answer"' in text
    assert '"category"' in text


def test_few_shot_demonstrations_come_from_passing_traces(context: ProposalContext) -> None:
    proposals = few_shot.propose(context)
    assert proposals
    block = str(proposals[0].edits[0].value)
    assert block.count("Request:") == context.config.few_shot_k
    passing = {
        t.output.strip() for t, failed in zip(context.traces, context.table.failed, strict=True) if not failed
    }
    replies = [line.removeprefix("Reply: ") for line in block.splitlines() if line.startswith("Reply: ")]
    assert all(reply in passing for reply in replies)


def test_model_routing_frontier_and_tolerance(context: ProposalContext) -> None:
    stats = model_routing.model_stats(context)
    frontier = model_routing.pareto_frontier(stats)
    assert [s.cost_usd for s in frontier] == sorted(s.cost_usd for s in frontier)
    for proposal in model_routing.propose(context):
        [edit] = proposal.edits
        assert edit.kind is EditKind.SET_MODEL
        assert edit.value in {s.model for s in frontier}
        assert "95% CI" in proposal.candidate.rationale


def test_apply_edits_composes_and_first_setting_wins() -> None:
    config = AgentConfig(model="m", params={"max_tokens": 10}, templates={"system": "Base."})
    edits = [
        Edit(EditKind.APPEND_TO_TEMPLATE, "One.", "system"),
        Edit(EditKind.SET_PARAM, 20, "max_tokens"),
        Edit(EditKind.SET_PARAM, 30, "max_tokens"),
        Edit(EditKind.APPEND_TO_TEMPLATE, "One.", "system"),
        Edit(EditKind.REPLACE_TEMPLATE, "Rewritten.", "system"),
    ]
    result = apply_edits(config, edits)
    assert result.templates["system"] == "Rewritten.\n\nOne."
    assert result.params["max_tokens"] == 20


class _Generator:
    def __init__(self, fail_after: int) -> None:
        self.calls = 0
        self.fail_after = fail_after

    async def generate(self, prompt: str, *, system=None, n=1, max_tokens=1024, temperature=0.7) -> list[str]:
        if self.calls >= self.fail_after:
            raise BudgetExhausted("no budget left")
        self.calls += 1
        return [f"Rewrite {self.calls}.{i}" for i in range(n)]


async def test_llm_rewrite_keeps_candidates_and_stops_on_budget(context: ProposalContext) -> None:
    run = await llm_rewrite.propose(context, _Generator(fail_after=2))
    assert run.budget_exhausted
    assert len(run.proposals) == 2 * llm_rewrite.REWRITES_PER_CLUSTER
    assert all(p.candidate.strategy is Strategy.LLM_REWRITE for p in run.proposals)


def test_censored_cost_estimate_prices_cut_answers_at_the_new_limit() -> None:
    complete = [
        Trace(trace_id=f"c{i}", input="q", output="a", output_tokens=100, finish_reason="stop")
        for i in range(80)
    ]
    cut = [
        Trace(trace_id=f"t{i}", input="q", output="a", output_tokens=256, finish_reason="length")
        for i in range(20)
    ]
    traces = complete + cut
    total = 80 * 100 + 20 * 256
    # Every cut answer may now use the new limit: 20 x (512 - 256) more output tokens.
    expected = 100.0 * 20 * (512 - 256) / total
    assert playbook.censored_cost_change_pct(traces, 256, 512) == pytest.approx(expected)
    # The p95 of the observed lengths is the old limit itself (the values are censored there), so a
    # p95-based prediction would say the change costs nothing; the censored one says +39%.
    assert float(np.percentile([t.output_tokens for t in traces], 95)) == 256
    assert expected > 39
    assert playbook.censored_cost_change_pct(complete, 256, 512) == 0.0
    assert playbook.censored_cost_change_pct([], 256, 512) == 0.0


def test_truncation_fix_predicts_its_cost_from_censored_lengths(context: ProposalContext) -> None:
    [truncation] = _by_cause(context, playbook.propose(context), CauseCategory.TRUNCATION)
    new_limit = max_tokens_of(apply_edits(context.baseline, truncation.edits)) or 0
    old_limit = max_tokens_of(context.baseline) or 0
    assert truncation.estimate is not None
    assert truncation.estimate.cost_change_pct == pytest.approx(
        playbook.censored_cost_change_pct(context.traces, old_limit, new_limit)
    )
    assert truncation.estimate.cost_change_pct > 0
    assert "censored" in truncation.estimate.basis


# A LangChain-shaped RAG agent: one template rewrites a follow-up into a standalone question, two
# others prompt the call that answers. Sorted by name, the rewrite comes first.
_RAG_TEMPLATES = {
    "condense_question": "Given the conversation and a follow-up question, rephrase the follow-up question "
    "to be a standalone question.\n\nChat history:\n{chat_history}\nFollow-up: {question}",
    "qa_system": "You are the Acme Cloud documentation assistant.  Answer using only the context below.",
    "qa_user": "Context:\n{{context}}\n\nQuestion: {{question}}",
}


def _answer_prompt(question: str) -> tuple[Message, ...]:
    return (
        Message(
            "system", "You are the Acme Cloud documentation assistant. Answer using only the context below."
        ),
        Message("user", f"Context:\n[1] Enable encryption in the console.\n\nQuestion: {question}"),
    )


def test_instructions_go_into_the_template_that_prompts_the_answer(context: ProposalContext) -> None:
    rag = replace(context, baseline=replace(context.baseline, templates=_RAG_TEMPLATES))
    # Without the answering calls' prompts only the names are there to go by.
    assert rag.instruction_template == "condense_question"
    told = replace(rag, answer_prompts=[_answer_prompt(f"How do I rotate key {i}?") for i in range(20)])
    assert told.instruction_template == "qa_system"
    appended = [
        edit
        for proposal in [*playbook.propose(told), *few_shot.propose(told)]
        for edit in proposal.edits
        if edit.kind is EditKind.APPEND_TO_TEMPLATE
    ]
    assert appended
    assert {edit.key for edit in appended} == {"qa_system"}


def test_the_answering_template_needs_evidence_in_most_prompts() -> None:
    config = AgentConfig(model="gpt-4o", templates={**_RAG_TEMPLATES, "system": "You are a helpful bot."})
    prompts = [_answer_prompt("q")] * 4 + [(Message("user", "unrelated prompt text of another agent"),)] * 6
    # In 4 of 10 prompts: not enough to overrule the name `system`.
    assert answering_template(config, prompts) is None
    assert instruction_template(config, prompts) == "system"
    # In most of them it is, even with a template called `system` in the config.
    assert instruction_template(config, prompts[:8]) == "qa_system"
    # A template found only in user messages still counts, after one found in a system message.
    user_only = [
        (
            Message(
                "user", "You are the Acme Cloud documentation assistant. Answer using only the context below."
            ),
        )
    ]
    assert answering_template(config, user_only * 3) == "qa_system"
    assert answering_template(config, []) is None
    # A system message in a few prompts does not outrank a template found in most of them.
    few_in_system = [(Message("system", _RAG_TEMPLATES["qa_system"]),)] + [
        (
            Message(
                "user",
                "Given the conversation and a follow-up question, rephrase the follow-up question to be a standalone question.\n\nChat history:\nHuman: hi",
            ),
        )
    ] * 3
    assert answering_template(config, few_in_system) == "condense_question"
