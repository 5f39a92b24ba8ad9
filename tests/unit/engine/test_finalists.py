"""Finalist selection keeps independent fixes apart (issue 11)."""

from spectral.engine.pipeline import select_finalists
from spectral.engine.proposers.base import Edit, EditKind, Proposal, make_proposal
from spectral.engine.search import STAGE_FULL, SearchOutcome
from spectral.engine.synthetic import generate_workspace
from spectral.engine.types import ExperimentResult, Strategy


def _proposal(edit: Edit, clusters: list[str]) -> Proposal:
    proposal = make_proposal(generate_workspace(3, 50).baseline, Strategy.PLAYBOOK, [edit], "why", clusters)
    assert proposal is not None
    return proposal


def _result(cid: str, gain: float, *, within: bool) -> ExperimentResult:
    return ExperimentResult(
        candidate_id=cid,
        stage=STAGE_FULL,
        n_inputs=100,
        baseline_objective=0.5,
        candidate_objective=0.5 + gain,
        baseline_cost_usd=0.01,
        candidate_cost_usd=0.01,
        baseline_latency_ms=100,
        candidate_latency_ms=100,
        accepted=True,
        within_guardrails=within,
    )


def test_each_cluster_gets_its_own_best_fix_and_the_compliant_combination() -> None:
    tokens = _proposal(Edit(EditKind.SET_PARAM, 1024, "max_tokens"), ["c-trunc"])
    tokens_small = _proposal(Edit(EditKind.SET_PARAM, 400, "max_tokens"), ["c-trunc"])
    prompt = _proposal(Edit(EditKind.APPEND_TO_TEMPLATE, "Answer in JSON.", "system"), ["c-format"])
    scope = _proposal(Edit(EditKind.APPEND_TO_TEMPLATE, "Warranty is in scope.", "system"), ["c-ref"])
    combo = _proposal(
        Edit(EditKind.APPEND_TO_TEMPLATE, "JSON; warranty in scope.", "system"), ["c-format", "c-ref"]
    )
    ids = {
        name: p.candidate.candidate_id
        for name, p in {
            "tokens": tokens,
            "small": tokens_small,
            "prompt": prompt,
            "scope": scope,
            "combo": combo,
        }.items()
    }
    outcome = SearchOutcome(
        results=(
            _result(ids["tokens"], 0.20, within=False),  # the strongest, but beyond a guardrail
            _result(ids["small"], 0.10, within=True),
            _result(ids["prompt"], 0.08, within=True),
            _result(ids["scope"], 0.05, within=True),
            _result(ids["combo"], 0.12, within=True),
        ),
        proposals={p.candidate.candidate_id: p for p in (tokens, tokens_small, prompt, scope, combo)},
        accepted=(ids["combo"], ids["tokens"], ids["small"], ids["prompt"], ids["scope"]),
        merged=(ids["combo"],),
    )
    finalists = select_finalists(outcome, 9)
    # The compliant fix for truncation wins its cluster over the stronger one beyond the guardrail,
    # and the cheap prompt fixes are validated alone, not only inside the combination.
    assert finalists == [ids["small"], ids["prompt"], ids["scope"], ids["combo"]]


def test_a_fix_beyond_the_guardrails_is_still_validated_when_its_cluster_has_no_other() -> None:
    tokens = _proposal(Edit(EditKind.SET_PARAM, 1024, "max_tokens"), ["c-trunc"])
    prompt = _proposal(Edit(EditKind.APPEND_TO_TEMPLATE, "Answer in JSON.", "system"), ["c-format"])
    outcome = SearchOutcome(
        results=(
            _result(tokens.candidate.candidate_id, 0.2, within=False),
            _result(prompt.candidate.candidate_id, 0.1, within=True),
        ),
        proposals={p.candidate.candidate_id: p for p in (tokens, prompt)},
        accepted=(tokens.candidate.candidate_id, prompt.candidate.candidate_id),
        merged=(),
    )
    assert select_finalists(outcome, 9) == [tokens.candidate.candidate_id, prompt.candidate.candidate_id]
    assert select_finalists(outcome, 1) == [tokens.candidate.candidate_id]


def test_sibling_clusters_of_one_kind_of_failure_get_one_finalist() -> None:
    # A date-format failure split by the dates it quotes into four clusters: one fix for all four.
    siblings = [f"c-date-{n}" for n in range(4)]
    dates = [
        _proposal(Edit(EditKind.APPEND_TO_TEMPLATE, f"Pass dates as YYYY-MM-DD ({n}).", "system"), [cluster])
        for n, cluster in enumerate(siblings)
    ]
    prompt = _proposal(Edit(EditKind.APPEND_TO_TEMPLATE, "Answer in JSON.", "system"), ["c-format"])
    proposals = [*dates, prompt]
    gains = [0.05, 0.07, 0.06, 0.04, 0.03]
    outcome = SearchOutcome(
        results=tuple(
            _result(p.candidate.candidate_id, gain, within=True)
            for p, gain in zip(proposals, gains, strict=True)
        ),
        proposals={p.candidate.candidate_id: p for p in proposals},
        accepted=tuple(p.candidate.candidate_id for p in (dates[1], dates[2], dates[0], dates[3], prompt)),
        merged=(),
    )

    def kin(cluster_ids):
        wanted = set(cluster_ids)
        return wanted | set(siblings) if wanted & set(siblings) else wanted

    assert select_finalists(outcome, 9, kin) == [
        dates[1].candidate.candidate_id,
        prompt.candidate.candidate_id,
    ]
    # Without kinship each sibling is a kind of its own.
    assert len(select_finalists(outcome, 9)) == 5
