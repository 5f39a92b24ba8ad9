"""Holdout statistics: bootstrap coverage, exact McNemar, Holm, MDE and the verdict."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral.engine.stats import (
    BootstrapResult,
    GuardrailCheck,
    GuardrailState,
    McNemarResult,
    VerdictEvidence,
    VerdictPolicy,
    binomial_two_sided_p,
    binomial_upper_p,
    change_interval,
    change_pct,
    decide_verdict,
    decide_verdicts,
    guardrail_checks,
    holm_adjust,
    is_non_inferior,
    mcnemar_exact,
    mde_for_sample_size,
    minimum_detectable_effect,
    paired_bootstrap,
    worth_a_closer_look,
)
from spectral.engine.types import ChangeInterval, ConstraintCheck, ScanConfig, Verdict


def simulated_sessions(
    rng: np.random.Generator, n_sessions: int, effect: float, session_sd: float = 0.3, noise_sd: float = 0.3
) -> tuple[np.ndarray, list[str]]:
    """Per-input differences with a shared per-session shift (sessions of 1-5 inputs)."""
    differences: list[float] = []
    keys: list[str] = []
    for session in range(n_sessions):
        shift = rng.normal(0.0, session_sd)
        for _ in range(int(rng.integers(1, 6))):
            differences.append(effect + shift + rng.normal(0.0, noise_sd))
            keys.append(f"s{session}")
    return np.array(differences), keys


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    differences, keys = simulated_sessions(np.random.default_rng(0), 50, 0.1)
    first = paired_bootstrap(differences, keys, seed=3)
    second = paired_bootstrap(differences, keys, seed=3)
    assert (first.low, first.high, first.standard_error) == (second.low, second.high, second.standard_error)
    assert first.n_sessions == 50
    assert first.n_units == len(differences)
    assert first.low < first.mean < first.high


def test_bootstrap_covers_the_true_difference_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(42)
    true_effect = 0.05
    repetitions = 300
    covered = 0
    for repetition in range(repetitions):
        differences, keys = simulated_sessions(rng, 80, true_effect)
        result = paired_bootstrap(differences, keys, seed=repetition, resamples=1000)
        covered += result.low <= true_effect <= result.high
    # 95% nominal; with 300 repetitions the binomial sd is 1.3 points.
    assert 0.91 <= covered / repetitions <= 0.985


def test_session_bootstrap_is_wider_than_an_iid_one_on_correlated_data() -> None:
    differences, keys = simulated_sessions(np.random.default_rng(1), 100, 0.0, session_sd=0.5, noise_sd=0.1)
    clustered = paired_bootstrap(differences, keys, seed=0)
    iid = paired_bootstrap(differences, [str(i) for i in range(len(keys))], seed=0)
    assert clustered.high - clustered.low > 1.3 * (iid.high - iid.low)


def test_bootstrap_drops_nan_pairs_and_checks_its_inputs() -> None:
    result = paired_bootstrap([0.1, np.nan, 0.3, 0.2], ["a", "b", "c", "d"], seed=0)
    assert result.n_units == 3
    assert result.mean == pytest.approx(0.2)
    with pytest.raises(ValueError, match="one session key"):
        paired_bootstrap([0.1, 0.2], ["a"], seed=0)
    with pytest.raises(ValueError, match="no finite"):
        paired_bootstrap([np.nan], ["a"], seed=0)
    with pytest.raises(ValueError, match="1000"):
        paired_bootstrap([0.1], ["a"], seed=0, resamples=10)


def test_p_value_agrees_with_the_interval() -> None:
    differences, keys = simulated_sessions(np.random.default_rng(5), 60, 0.2)
    result = paired_bootstrap(differences, keys, seed=0)
    assert result.low > 0
    assert result.p_value_at_most(0.0) <= 0.025
    assert result.p_value_at_most(result.high + 1) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("improved", "regressed"), [(0, 0), (1, 0), (3, 7), (10, 10), (2, 15), (40, 60), (0, 12)]
)
def test_mcnemar_matches_the_exact_binomial(improved: int, regressed: int) -> None:
    n = improved + regressed
    k = min(improved, regressed)
    expected = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
    baseline = [False] * improved + [True] * regressed + [True, False] * 5
    candidate = [True] * improved + [False] * regressed + [True, False] * 5
    result = mcnemar_exact(baseline, candidate)
    assert (result.improved, result.regressed) == (improved, regressed)
    assert result.p_value == pytest.approx(expected, rel=1e-12)


def test_binomial_log_space_path_matches_exact_sums() -> None:
    for n, k in ((2500, 1200), (3000, 1400), (5000, 2450)):
        exact = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
        assert binomial_two_sided_p(k, n) == pytest.approx(exact, rel=1e-9)


def test_holm_matches_a_reference_table() -> None:
    # Reference values from R: p.adjust(c(0.01, 0.04, 0.03, 0.005), method = "holm").
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # p.adjust(c(0.2, 0.01, 0.5), "holm") -> 0.4, 0.03, 0.5
    assert holm_adjust([0.2, 0.01, 0.5]) == pytest.approx([0.4, 0.03, 0.5])
    # p.adjust(c(0.9, 0.8), "holm") -> 1, 1
    assert holm_adjust([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([]) == []


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_is_monotone_and_never_below_the_raw_p(p_values: list[float]) -> None:
    adjusted = holm_adjust(p_values)
    for raw, adj in zip(p_values, adjusted, strict=True):
        assert raw <= adj <= 1.0
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    assert all(adjusted[a] <= adjusted[b] for a, b in itertools.pairwise(order))


def test_minimum_detectable_effect_formula() -> None:
    assert minimum_detectable_effect(1.0) == pytest.approx(1.959964 + 0.841621, rel=1e-5)
    assert mde_for_sample_size(0.5, 400) == pytest.approx(2.801585 * 0.025, rel=1e-5)
    assert mde_for_sample_size(0.5, 400, design_effect=4.0) == pytest.approx(
        2 * mde_for_sample_size(0.5, 400)
    )
    assert mde_for_sample_size(0.5, 0) == math.inf


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_power_at_the_reported_mde_is_about_eighty_percent(seed: int) -> None:
    # A true effect at the MDE of a design is detected ~80% of the time (checked on one seed-drawn design).
    rng = np.random.default_rng(seed)
    sd, n = 0.3, 200
    effect = mde_for_sample_size(sd, n)
    detected = sum(
        paired_bootstrap(rng.normal(effect, sd, n), [str(i) for i in range(n)], seed=r, resamples=1000).low
        > 0
        for r in range(40)
    )
    assert 20 <= detected <= 40


def bootstrap_with(mean: float, se: float, n_sessions: int = 50) -> BootstrapResult:
    """A bootstrap whose resampled means are the exact quantiles of Normal(mean, se)."""
    normal = NormalDist(mean, se)
    draws = np.array([normal.inv_cdf((i + 0.5) / 4000) for i in range(4000)])
    low, high = np.quantile(draws, [0.025, 0.975])
    return BootstrapResult(mean, float(low), float(high), se, n_sessions * 2, n_sessions, 0.95, draws)


def evidence(boot: BootstrapResult, **overrides: object) -> VerdictEvidence:
    fields: dict[str, object] = {
        "bootstrap": boot,
        "baseline_cost_usd": 0.01,
        "candidate_cost_usd": 0.01,
        "baseline_latency_p95_ms": 1000.0,
        "candidate_latency_p95_ms": 1000.0,
    }
    fields.update(overrides)
    # Without an explicit interval, the guardrails see their point estimate with no uncertainty.
    for interval, baseline, candidate in (
        ("cost_interval", "baseline_cost_usd", "candidate_cost_usd"),
        ("latency_interval", "baseline_latency_p95_ms", "candidate_latency_p95_ms"),
    ):
        change = change_pct(fields[baseline], fields[candidate])  # type: ignore[arg-type]
        fields.setdefault(interval, ChangeInterval(change, change, change))
    return VerdictEvidence(**fields)  # type: ignore[arg-type]


POLICY = VerdictPolicy.from_scan_config(ScanConfig(min_holdout_gain=0.01))
POLICY_AT_ZERO = VerdictPolicy(min_holdout_gain=0.0)


def test_recommend_when_the_lower_bound_clears_the_gain() -> None:
    decision = decide_verdict(evidence(bootstrap_with(0.05, 0.01)), POLICY)
    assert decision.verdict is Verdict.RECOMMEND
    assert decision.test == "superiority"


def test_inconclusive_reports_the_mde() -> None:
    decision = decide_verdict(evidence(bootstrap_with(0.01, 0.01)), POLICY)
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert decision.mde == pytest.approx(minimum_detectable_effect(0.01))
    assert "power" in decision.reason


def test_a_gain_short_of_the_minimum_says_so() -> None:
    # CI [+0.005, +0.035] with a minimum of +0.01: better than the baseline, not shown to reach it.
    short = decide_verdict(evidence(bootstrap_with(0.02, 0.0077)), POLICY)
    assert short.verdict is Verdict.INCONCLUSIVE
    assert "not shown to reach the minimum holdout gain +0.01" in short.reason
    # A CI that straddles zero is no gain at all: the reason does not claim one.
    unclear = decide_verdict(evidence(bootstrap_with(0.01, 0.01)), POLICY)
    assert "not enough evidence for superiority" in unclear.reason


def test_reject_when_confidently_below_the_bar() -> None:
    assert decide_verdict(evidence(bootstrap_with(-0.05, 0.01)), POLICY).verdict is Verdict.REJECT
    assert decide_verdict(evidence(bootstrap_with(0.005, 0.001)), POLICY).verdict is Verdict.REJECT


def test_material_saving_is_judged_by_non_inferiority_on_quality_alone() -> None:
    # The objective rewards the saving (+0.05) but the decision reads the quality difference only.
    cheaper = evidence(
        bootstrap_with(0.05, 0.002), quality=bootstrap_with(-0.002, 0.002), candidate_cost_usd=0.009
    )
    decision = decide_verdict(cheaper, POLICY)
    assert decision.verdict is Verdict.RECOMMEND
    assert decision.test == "non_inferiority"
    assert is_non_inferior(bootstrap_with(-0.002, 0.002), POLICY.non_inferiority_margin)
    assert "quality non-inferior" in decision.reason
    # The same saving with quality confidently worse than the margin is rejected, whatever the
    # objective says.
    worse = evidence(
        bootstrap_with(0.05, 0.002), quality=bootstrap_with(-0.03, 0.007), candidate_cost_usd=0.009
    )
    rejected = decide_verdict(worse, POLICY)
    assert rejected.verdict is Verdict.REJECT
    assert "quality confidently below -0.01" in rejected.reason


@pytest.mark.parametrize(
    ("candidate_cost", "candidate_p95", "test"),
    [
        (0.009, 1000.0, "non_inferiority"),  # cost -10.0%: exactly the material share
        (0.00901, 1000.0, "superiority"),  # cost -9.9%: not material
        (0.00999, 1000.0, "superiority"),  # cost -0.1%: the "does nothing" change
        (0.01, 900.0, "non_inferiority"),  # p95 latency -10.0%
        (0.01, 901.0, "superiority"),  # p95 latency -9.9%
    ],
)
def test_non_inferiority_only_for_a_material_saving(
    candidate_cost: float, candidate_p95: float, test: str
) -> None:
    # No effect at all: only a material saving may be recommended on non-inferiority.
    null = evidence(
        bootstrap_with(0.0, 0.002),
        quality=bootstrap_with(0.0, 0.002),
        candidate_cost_usd=candidate_cost,
        candidate_latency_p95_ms=candidate_p95,
    )
    decision = decide_verdict(null, POLICY)
    assert decision.test == test
    assert (decision.verdict is Verdict.RECOMMEND) is (test == "non_inferiority")


def test_a_saving_is_judged_on_mean_latency_not_on_the_noisy_p95() -> None:
    # p95 -14% (a slow tail less) while the mean moved -1%: no material saving, superiority needed.
    tail = evidence(
        bootstrap_with(0.0, 0.002),
        quality=bootstrap_with(0.0, 0.002),
        candidate_latency_p95_ms=860.0,
        baseline_latency_mean_ms=500.0,
        candidate_latency_mean_ms=495.0,
    )
    decision = decide_verdict(tail, POLICY)
    assert decision.test == "superiority"
    assert decision.verdict is not Verdict.RECOMMEND
    faster = evidence(
        bootstrap_with(0.0, 0.002),
        quality=bootstrap_with(0.0, 0.002),
        baseline_latency_mean_ms=500.0,
        candidate_latency_mean_ms=450.0,
    )
    assert decide_verdict(faster, POLICY).test == "non_inferiority"


def test_material_saving_share_is_a_setting() -> None:
    policy = VerdictPolicy.from_scan_config(ScanConfig(min_holdout_gain=0.01, material_saving_pct=25.0))
    cheaper = evidence(
        bootstrap_with(0.0, 0.002), quality=bootstrap_with(0.0, 0.002), candidate_cost_usd=0.008
    )
    assert decide_verdict(cheaper, policy).test == "superiority"
    assert decide_verdict(cheaper, POLICY).test == "non_inferiority"


def test_without_a_quality_figure_a_saving_needs_superiority() -> None:
    cheaper = evidence(bootstrap_with(0.0, 0.002), candidate_cost_usd=0.005)
    assert decide_verdict(cheaper, POLICY).test == "superiority"
    assert decide_verdict(cheaper, POLICY).verdict is not Verdict.RECOMMEND


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"candidate_cost_usd": 0.0110001}, "cost +10.0% > guardrail 10%"),
        ({"candidate_latency_p95_ms": 1100.1}, "p95 latency +10.0% > guardrail 10%"),
    ],
)
def test_guardrail_rejection_names_the_guardrail_and_the_validated_gain(
    overrides: dict[str, float], named: str
) -> None:
    good = bootstrap_with(0.16, 0.01)
    decision = decide_verdict(evidence(good, **overrides), POLICY)
    assert decision.verdict is Verdict.REJECT
    assert named in decision.reason
    assert decision.reason.startswith(f"objective +0.160 [{good.low:+.3f}, {good.high:+.3f}]")


@pytest.mark.parametrize(
    ("interval", "verdict", "named"),
    [
        # The whole CI above the limit: rejected, the guardrail named with its lower bound.
        (
            ChangeInterval(19.0, 10.01, 28.0),
            Verdict.REJECT,
            "cost +19.0% > guardrail 10% (CI lower bound +10.0%)",
        ),
        # Lower bound exactly at the limit: not shown to exceed it, the estimate is above: inconclusive.
        (ChangeInterval(19.0, 10.0, 28.0), Verdict.INCONCLUSIVE, "cost +19.0% may exceed guardrail 10%"),
        (ChangeInterval(10.01, -8.0, 28.0), Verdict.INCONCLUSIVE, "[-8.0%, +28.0%] reaches both sides"),
        # Estimate at the limit (inclusive), CI above it: recommended, saying the holdout cannot confirm.
        (ChangeInterval(10.0, -8.0, 28.0), Verdict.RECOMMEND, "cannot confirm it (CI upper bound +28.0%)"),
        (ChangeInterval(2.0, -8.0, 10.01), Verdict.RECOMMEND, "cannot confirm it"),
        # The whole CI within the limit (inclusive): nothing to say.
        (ChangeInterval(2.0, -8.0, 10.0), Verdict.RECOMMEND, "objective gain above 0.01"),
    ],
)
@pytest.mark.parametrize(
    ("field", "measure"), [("cost_interval", "cost"), ("latency_interval", "p95 latency")]
)
def test_guardrails_are_judged_on_their_interval(
    interval: ChangeInterval, verdict: Verdict, named: str, field: str, measure: str
) -> None:
    decision = decide_verdict(evidence(bootstrap_with(0.16, 0.01), **{field: interval}), POLICY)
    assert decision.verdict is verdict
    assert named.replace("cost", measure) in decision.reason
    assert interval.describe(measure) in decision.reason
    other = "p95 latency" if measure == "cost" else "cost"
    assert f"{other} +0.0% within" not in decision.reason, "a guardrail within its limit says nothing"


def test_a_guardrail_in_doubt_does_not_hide_a_worse_verdict() -> None:
    # Quality confidently below the bar is a reject, whatever the cost interval leaves open.
    doubtful = ChangeInterval(15.0, -5.0, 35.0)
    worse = decide_verdict(evidence(bootstrap_with(-0.05, 0.01), cost_interval=doubtful), POLICY)
    assert worse.verdict is Verdict.REJECT
    assert "confidently below" in worse.reason


@pytest.mark.parametrize(
    ("interval", "state", "unattended"),
    [
        (ChangeInterval(12.0, 10.0001, 14.0), GuardrailState.EXCEEDED, False),
        (ChangeInterval(12.0, 10.0, 14.0), GuardrailState.MAY_EXCEED, False),
        (ChangeInterval(10.0, 5.0, 14.0), GuardrailState.UNCONFIRMED, False),
        (ChangeInterval(9.0, 5.0, 10.0001), GuardrailState.UNCONFIRMED, False),
        # The whole CI within the limit, inclusive: the only state auto-apply lets through.
        (ChangeInterval(9.0, 5.0, 10.0), GuardrailState.WITHIN, True),
        (ChangeInterval(-20.0, -30.0, -10.0), GuardrailState.WITHIN, True),
        (None, GuardrailState.UNKNOWN, False),
    ],
)
def test_guardrail_states_at_the_boundaries(
    interval: ChangeInterval | None, state: GuardrailState, unattended: bool
) -> None:
    check = GuardrailCheck("cost", interval, 10.0)
    assert check.state is state
    assert check.holds_unattended is unattended


def test_an_unknown_guardrail_neither_rejects_nor_blocks_a_recommendation() -> None:
    # Replays that report no cost: the verdict cannot weigh the cost guardrail and says so.
    decision = decide_verdict(evidence(bootstrap_with(0.16, 0.01), cost_interval=None), POLICY)
    assert decision.verdict is Verdict.RECOMMEND
    assert "cost unknown" in decision.reason


def test_the_verdict_and_auto_apply_share_the_guardrail_checks() -> None:
    cost, latency = ChangeInterval(2.0, -1.0, 5.0), ChangeInterval(4.0, -18.0, 27.0)
    checks = guardrail_checks(cost, latency, max_cost_increase_pct=10.0, max_latency_increase_pct=10.0)
    assert [c.measure for c in checks] == ["cost", "p95 latency"]
    assert [c.state for c in checks] == [GuardrailState.WITHIN, GuardrailState.UNCONFIRMED]
    decision = decide_verdict(
        evidence(bootstrap_with(0.16, 0.01), cost_interval=cost, latency_interval=latency), POLICY
    )
    assert decision.verdict is Verdict.RECOMMEND
    assert checks[1].explain() in decision.reason


def _sessions(n_sessions: int, rng: np.random.Generator) -> list[str]:
    return [f"s{session}" for session in range(n_sessions) for _ in range(int(rng.integers(1, 4)))]


def test_change_interval_of_a_pure_scale_change_is_that_change() -> None:
    rng = np.random.default_rng(3)
    keys = _sessions(100, rng)
    baseline = rng.lognormal(7.0, 0.6, len(keys))
    for quantile in (None, 0.95):
        interval = change_interval(baseline, baseline * 1.19, keys, quantile=quantile, seed=1)
        assert interval.change_pct == pytest.approx(19.0)
        assert interval.low_pct == pytest.approx(19.0)
        assert interval.high_pct == pytest.approx(19.0)


def test_change_interval_of_re_drawn_jitter_covers_no_change() -> None:
    # A no-op that re-draws the timing jitter: p95 moves on its own, the interval says how much.
    rng = np.random.default_rng(5)
    keys = _sessions(150, rng)
    work = rng.lognormal(7.0, 0.5, len(keys))
    covered = 0
    widths = []
    for draw in range(40):
        jitter = np.random.default_rng(draw)
        baseline = work * jitter.lognormal(0.0, 0.25, len(keys))
        candidate = work * jitter.lognormal(0.0, 0.25, len(keys))
        interval = change_interval(baseline, candidate, keys, quantile=0.95, seed=draw, resamples=1000)
        assert interval.low_pct <= interval.change_pct <= interval.high_pct
        covered += interval.low_pct <= 0.0 <= interval.high_pct
        widths.append(interval.high_pct - interval.low_pct)
    assert covered >= 34, "a 95% interval covers the true ratio of 1 in most draws"
    assert min(widths) > 10.0, "the p95 of ~300 jittered replays is not known to within +/-5%"


def test_change_interval_drops_unpaired_values_and_is_seeded() -> None:
    keys = [f"s{i // 2}" for i in range(40)]
    baseline = np.linspace(1.0, 2.0, 40)
    candidate = baseline * np.linspace(0.9, 1.3, 40)
    candidate[3] = np.nan
    first = change_interval(baseline, candidate, keys, quantile=None, seed=7)
    assert first == change_interval(baseline, candidate, keys, quantile=None, seed=7)
    kept = np.arange(40) != 3
    assert first.change_pct == pytest.approx(change_pct(baseline[kept].mean(), candidate[kept].mean()))
    with pytest.raises(ValueError, match="session key"):
        change_interval(baseline, candidate[:-1], keys, quantile=None, seed=7)
    with pytest.raises(ValueError, match="no finite pairs"):
        change_interval([np.nan], [1.0], ["s"], quantile=None, seed=7)
    assert change_interval(np.zeros(4), np.ones(4), list("abcd"), quantile=None, seed=7) is None


def test_guardrails_are_inclusive_at_the_limit() -> None:
    at_limit = evidence(bootstrap_with(0.05, 0.01), candidate_cost_usd=0.011, candidate_latency_p95_ms=1100.0)
    assert decide_verdict(at_limit, POLICY).verdict is Verdict.RECOMMEND


def test_guardrails_and_constraints_reject() -> None:
    good = bootstrap_with(0.05, 0.01)
    failing = ConstraintCheck("max_p95_latency_ms", False, 3000, 2000)
    assert decide_verdict(evidence(good, constraint_checks=(failing,)), POLICY).verdict is Verdict.REJECT
    assert decide_verdict(evidence(good, candidate_cost_usd=0.02), POLICY).verdict is Verdict.REJECT
    assert decide_verdict(evidence(good, candidate_latency_p95_ms=1500.0), POLICY).verdict is Verdict.REJECT
    assert decide_verdict(evidence(good, regressed_cluster_ids=("k3",)), POLICY).verdict is Verdict.REJECT
    regression = mcnemar_exact([True] * 30, [False] * 20 + [True] * 10)
    assert decide_verdict(evidence(good, mcnemar=(("json", regression),)), POLICY).verdict is Verdict.REJECT


def test_too_few_sessions_is_inconclusive() -> None:
    decision = decide_verdict(evidence(bootstrap_with(0.05, 0.01, n_sessions=5)), POLICY)
    assert decision.verdict is Verdict.INCONCLUSIVE


def test_holm_across_finalists_can_withhold_a_recommendation() -> None:
    # Each one-sided p is ~0.015 on its own (<= 0.025) but not after adjusting for three finalists.
    borderline = [evidence(bootstrap_with(0.04, 0.0138)) for _ in range(3)]
    alone = decide_verdict(borderline[0], POLICY)
    together = decide_verdicts(borderline, POLICY)
    assert alone.verdict is Verdict.RECOMMEND
    assert all(decision.verdict is Verdict.INCONCLUSIVE for decision in together)
    assert together[0].p_value_adjusted == pytest.approx(3 * alone.p_value)


def test_noise_only_false_accept_rate_is_low() -> None:
    # Three finalists with no true effect per scan, 200 scans: recommendations must stay rare.
    rng = np.random.default_rng(7)
    policy = VerdictPolicy()
    accepted = 0
    for scan in range(200):
        evidences = []
        for finalist in range(3):
            differences, keys = simulated_sessions(rng, 60, 0.0)
            boot = paired_bootstrap(differences, keys, seed=scan * 10 + finalist, resamples=1000)
            evidences.append(evidence(boot))
        accepted += any(d.verdict is Verdict.RECOMMEND for d in decide_verdicts(evidences, policy))
    assert accepted / 200 <= 0.05


@pytest.mark.parametrize(("successes", "trials"), [(0, 0), (0, 5), (3, 5), (6, 6), (10, 12), (40, 60)])
def test_one_sided_binomial_is_the_upper_tail(successes: int, trials: int) -> None:
    expected = (
        sum(math.comb(trials, k) for k in range(successes, trials + 1)) / 2**trials if successes else 1.0
    )
    assert binomial_upper_p(successes, trials) == pytest.approx(expected)
    assert binomial_upper_p(2100, 4000) == pytest.approx(
        sum(math.comb(4000, k) for k in range(2100, 4001)) / 2**4000, rel=1e-9
    )


def test_a_gain_from_outside_the_targeted_clusters_is_not_recommended() -> None:
    # The noise-only false accepts of issue 11 (travel seeds 2010, 2019): a prompt line aimed at a
    # cluster of residual failures it cannot fix, whose objective CI excluded zero by chance (the
    # re-drawn answers of any changed config). Not one holdout input left the targeted cluster.
    fluke = bootstrap_with(0.004, 0.0015)
    assert decide_verdict(evidence(fluke), POLICY_AT_ZERO).verdict is Verdict.RECOMMEND
    nothing_fixed = evidence(fluke, targeted=McNemarResult(improved=0, regressed=0, p_value=1.0))
    decision = decide_verdict(nothing_fixed, POLICY_AT_ZERO)
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert "0 holdout input(s) left its cluster(s) and 0 entered them" in decision.reason
    # Moving inputs in and out at random (noise clusters) is no evidence either.
    churn = evidence(fluke, targeted=McNemarResult(improved=9, regressed=7, p_value=0.8))
    assert decide_verdict(churn, POLICY_AT_ZERO).verdict is Verdict.INCONCLUSIVE


@pytest.mark.parametrize(("improved", "verdict"), [(5, Verdict.INCONCLUSIVE), (6, Verdict.RECOMMEND)])
def test_a_fix_must_be_shown_on_its_targeted_clusters(improved: int, verdict: Verdict) -> None:
    # One-sided exact binomial at alpha / 2: 5 of 5 inputs fixed is p = 1/32 > 0.025, 6 of 6 is 1/64.
    fixed = evidence(bootstrap_with(0.05, 0.01), targeted=McNemarResult(improved, 0, 1.0))
    assert decide_verdict(fixed, POLICY_AT_ZERO).verdict is verdict


def test_a_material_saving_is_not_held_to_its_targeted_clusters() -> None:
    # Non-inferiority claims a saving at equal quality, not a fix: the clusters do not decide it.
    cheaper = evidence(
        bootstrap_with(0.05, 0.002),
        quality=bootstrap_with(0.0, 0.002),
        candidate_cost_usd=0.008,
        targeted=McNemarResult(0, 0, 1.0),
    )
    assert decide_verdict(cheaper, POLICY_AT_ZERO).verdict is Verdict.RECOMMEND


def test_noise_only_finalists_aimed_at_unfixable_clusters_are_never_recommended() -> None:
    # 200 scans of three null finalists each: without the targeted test about alpha / 2 of the
    # scans recommend one; a null change fixes none of its clusters' inputs, so none may.
    rng = np.random.default_rng(11)
    flukes = 0
    for scan in range(200):
        evidences = []
        for finalist in range(3):
            differences, keys = simulated_sessions(rng, 60, 0.0)
            boot = paired_bootstrap(differences, keys, seed=scan * 10 + finalist, resamples=1000)
            evidences.append(evidence(boot, targeted=McNemarResult(0, 0, 1.0)))
        decisions = decide_verdicts(evidences, POLICY_AT_ZERO)
        flukes += any(
            d.p_value_adjusted <= POLICY_AT_ZERO.alpha / 2 and d.test == "superiority" for d in decisions
        )
        assert all(d.verdict is not Verdict.RECOMMEND for d in decisions)
    assert flukes > 0, "some scans must have had a significant fluke for this test to mean anything"


def test_holm_over_a_partly_decided_family_counts_the_decided_with_p_one() -> None:
    rng = np.random.default_rng(3)
    boots = []
    for effect in (0.05, 0.03, 0.0):
        differences, keys = simulated_sessions(rng, 80, effect)
        boots.append(paired_bootstrap(differences, keys, seed=1))
    policy = VerdictPolicy(min_holdout_gain=0.0)
    decided = decide_verdicts([evidence(b) for b in boots], policy, family_size=5)
    p_values = [b.p_value_at_most(0.0) for b in boots]
    assert [d.p_value_adjusted for d in decided] == holm_adjust([*p_values, 1.0, 1.0])[:3]


@pytest.mark.parametrize(
    ("mean", "cost", "worth"),
    [
        (0.03, ChangeInterval(2.0, 1.0, 3.0), True),  # only the interval misses the bar
        (0.03, ChangeInterval(8.0, 4.0, 13.0), True),  # a guardrail unconfirmed, not exceeded by its estimate
        (0.015, ChangeInterval(2.0, 1.0, 3.0), False),  # the estimate itself is short of the minimum
        (0.03, ChangeInterval(12.0, 8.0, 16.0), False),  # the cost estimate is beyond the guardrail
        (0.03, ChangeInterval(15.0, 11.0, 19.0), False),  # the guardrail is exceeded with confidence
    ],
)
def test_a_second_look_is_spent_only_where_the_estimates_meet_every_bar(
    mean: float, cost: ChangeInterval, worth: bool
) -> None:
    policy = VerdictPolicy(min_holdout_gain=0.02)
    assert worth_a_closer_look(evidence(bootstrap_with(mean, 0.01), cost_interval=cost), policy) is worth
