"""Auto-apply judges the cost and latency guardrails with the verdict's own `GuardrailCheck`, and more
strictly than the verdict: no human reads the reason, so only a change within every guardrail with
confidence (the CI's upper bound at most the limit) is applied; anything else waits, saying why."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from spectral.engine.stats import GuardrailState, guardrail_checks
from spectral.engine.types import ChangeInterval, ChangeKind, ConfigChange, ValidationResult, Verdict
from spectral.platform.changesets.models import ChangeSet
from spectral.platform.scans.autonomy import guardrail_violations
from spectral.platform.workspaces.schemas import Guardrails

GUARDRAILS = Guardrails(min_holdout_gain=0.02, require_human_for=[])  # +10% cost and p95 latency
WITHIN = ChangeInterval(2.0, -1.0, 5.0)


def _validation(
    cost: ChangeInterval | None = WITHIN, latency: ChangeInterval | None = WITHIN, ci_low: float = 0.05
) -> dict[str, Any]:
    return ValidationResult(
        candidate_id="c1",
        n_inputs=300,
        n_sessions=120,
        mean_difference=0.1,
        ci_low=ci_low,
        ci_high=0.15,
        mde=0.03,
        baseline_cost_usd=0.01,
        candidate_cost_usd=0.0102,
        baseline_latency_p95_ms=1000.0,
        candidate_latency_p95_ms=1020.0,
        verdict=Verdict.RECOMMEND,
        verdict_reason="objective gain above 0.02",
        cost_interval=cost,
        latency_interval=latency,
    ).to_dict()


def _changeset(
    validation: dict[str, Any] | None,
    *,
    verdict: Verdict = Verdict.RECOMMEND,
    estimated: bool = False,
    change: ConfigChange | None = None,
) -> ChangeSet:
    change = change or ConfigChange(
        ChangeKind.EDIT_TEMPLATE, "Be precise.", "Be precise. Cite the order id.", "system"
    )
    return ChangeSet(
        workspace_id=uuid.uuid4(),
        agent_id=uuid.uuid4(),
        status="proposed",
        strategy="playbook",
        title="playbook: edit system",
        rationale="why",
        verdict=verdict.value,
        estimated=estimated,
        diff=[change.to_dict()],
        candidate_config={},
        evidence_trace_ids=[],
        validation=validation,
        expected_impact={},
    )


def test_a_recommendation_within_every_guardrail_with_confidence_is_applied() -> None:
    assert guardrail_violations(_changeset(_validation()), GUARDRAILS) == []
    # Limits are inclusive: an upper bound exactly at the limit is within.
    at_limit = ChangeInterval(9.0, 4.0, 10.0)
    assert guardrail_violations(_changeset(_validation(cost=at_limit, latency=at_limit)), GUARDRAILS) == []


@pytest.mark.parametrize("field", ["cost", "latency"])
@pytest.mark.parametrize(
    ("interval", "said"),
    [
        # The verdict recommends these (the estimate is within); unattended, the CI must be.
        (ChangeInterval(4.0, -18.0, 10.0001), "this holdout cannot confirm it (CI upper bound +10.0%)"),
        (ChangeInterval(10.0, -18.0, 27.0), "this holdout cannot confirm it (CI upper bound +27.0%)"),
        # Never recommended, but auto-apply re-checks under the workspace's current guardrails.
        (ChangeInterval(12.0, -3.0, 27.0), "may exceed guardrail 10%"),
        (ChangeInterval(19.0, 11.0, 27.0), "> guardrail 10% (CI lower bound +11.0%)"),
        (None, "change unknown (nothing measured on the baseline): guardrail 10% not checked"),
    ],
)
def test_a_guardrail_not_confirmed_by_its_interval_waits_for_a_human(
    field: str, interval: ChangeInterval | None, said: str
) -> None:
    validation = _validation(**{field: interval})
    violations = guardrail_violations(_changeset(validation), GUARDRAILS)
    measure = "cost" if field == "cost" else "p95 latency"
    assert len(violations) == 1, violations
    assert violations[0].startswith(measure)
    assert said in violations[0]


def test_the_rule_is_the_verdicts_guardrail_check() -> None:
    # What auto-apply says is the verdict's own explanation of the same check, word for word.
    unconfirmed = ChangeInterval(4.0, -18.0, 27.0)
    check = guardrail_checks(WITHIN, unconfirmed, max_cost_increase_pct=10.0, max_latency_increase_pct=10.0)[
        1
    ]
    assert check.state is GuardrailState.UNCONFIRMED
    assert guardrail_violations(_changeset(_validation(latency=unconfirmed)), GUARDRAILS) == [check.explain()]
    # The workspace's guardrails at the time auto-apply acts are the ones checked.
    looser = GUARDRAILS.model_copy(update={"max_latency_increase_pct": 30.0})
    assert guardrail_violations(_changeset(_validation(latency=unconfirmed)), looser) == []


def test_the_objective_gain_and_the_kinds_reserved_for_humans_still_hold_back() -> None:
    low_gain = guardrail_violations(_changeset(_validation(ci_low=0.0199)), GUARDRAILS)
    assert low_gain == ["holdout CI lower bound 0.0199 < min_holdout_gain 0.02"]
    assert guardrail_violations(_changeset(_validation(ci_low=0.02)), GUARDRAILS) == []
    routing = _changeset(_validation(), change=ConfigChange(ChangeKind.SET_MODEL, "gpt-4o", "gpt-4o-mini"))
    assert guardrail_violations(routing, Guardrails(min_holdout_gain=0.02)) == ["require_human_for: model"]


@pytest.mark.parametrize(
    ("verdict", "estimated", "validated"),
    [
        (Verdict.REJECT, False, True),
        (Verdict.INCONCLUSIVE, False, True),
        (Verdict.RECOMMEND, True, True),
        (Verdict.RECOMMEND, False, False),
    ],
)
def test_only_a_validated_recommendation_is_ever_applied(
    verdict: Verdict, estimated: bool, validated: bool
) -> None:
    # A `reject` within every guardrail (rejected for another reason) is never applied either.
    changeset = _changeset(_validation() if validated else None, verdict=verdict, estimated=estimated)
    assert guardrail_violations(changeset, GUARDRAILS) == [
        "only a validated `recommend` change set can be applied automatically"
    ]


def test_a_validation_stored_before_the_intervals_were_waits_for_a_human() -> None:
    validation = _validation()
    del validation["cost_interval"], validation["latency_interval"]
    violations = guardrail_violations(_changeset(validation), GUARDRAILS)
    assert [v.split(" ")[0] for v in violations] == ["cost", "p95"]
