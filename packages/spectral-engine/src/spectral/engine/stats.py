"""Statistics of holdout validation (docs/scans.md phase 6).

- `paired_bootstrap`: CI of the mean per-input difference (candidate - baseline) by a seeded
  *cluster* bootstrap that resamples sessions, because traces of one session are correlated and an
  i.i.d. bootstrap would give intervals too narrow. The statistic is the ratio estimator
  sum(differences) / count over the resampled sessions. Percentile intervals are widened by
  sqrt(G / (G - 1)) (G sessions), which removes the bootstrap's known small-sample variance
  shrinkage (the plug-in variance divides by G, not G - 1).
- `mcnemar_exact`: two-sided exact McNemar test = binomial test (p = 1/2) on the discordant pairs.
- `holm_adjust`: Holm's step-down adjustment of p-values across the finalists of one scan.
- Non-inferiority for changes with a material cost or latency saving: the CI of the *quality*
  difference has its lower bound above -margin.
- `minimum_detectable_effect`: the true effect a test at two-sided level alpha detects with the given
  power: MDE = (z_{1-alpha/2} + z_{power}) * SE, the normal-approximation formula for a difference in
  means, with SE the session bootstrap's standard error (so clustering is accounted for).
  `mde_for_sample_size` is the planning form SE = sd * sqrt(design_effect / n).
- `decide_verdict` / `decide_verdicts`: recommend | inconclusive | reject, see `decide_verdict`.

Every random draw comes from `numpy.random.default_rng(seed)`: same inputs and seed, same figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from spectral.engine.types import (
    DEFAULT_MAX_COST_INCREASE_PCT,
    DEFAULT_MAX_LATENCY_INCREASE_PCT,
    DEFAULT_MIN_HOLDOUT_GAIN,
    ChangeInterval,
    ConstraintCheck,
    ScanConfig,
    Verdict,
)

FloatArray = npt.NDArray[np.float64]

DEFAULT_RESAMPLES = 2000
# Below this many sessions a cluster bootstrap has too few units to estimate its own spread.
MIN_SESSIONS_FOR_VERDICT = 10
# Caps the (resamples x sessions) index matrix drawn at once, to bound memory on large holdouts.
_MAX_INDEX_CELLS = 4_000_000
# Above this many discordant pairs the exact binomial sum is done in log space (same value to ~1e-12).
_EXACT_BINOMIAL_MAX_N = 2000


# --------------------------------------------------------------------------------------------------
# Bootstrap


@dataclass(frozen=True, slots=True, eq=False)
class BootstrapResult:
    """A session-bootstrap estimate of a mean difference. `resampled_means` are already widened."""

    mean: float
    low: float
    high: float
    standard_error: float
    n_units: int
    n_sessions: int
    level: float
    resampled_means: FloatArray = field(repr=False)

    def p_value_at_most(self, threshold: float) -> float:
        """One-sided bootstrap p-value of H0: true mean <= threshold (small = evidence above it).

        Consistent with the interval: `low > threshold` at level 1 - 2a exactly when this p <= a
        (up to the +1 correction that keeps p > 0).
        """
        at_or_below = int(np.count_nonzero(self.resampled_means <= threshold))
        return (at_or_below + 1) / (self.resampled_means.size + 1)


def paired_bootstrap(
    differences: npt.ArrayLike,
    session_keys: Sequence[str],
    *,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
) -> BootstrapResult:
    """CI of the mean of per-input differences, resampling whole sessions.

    Pairs with a NaN difference (an unscorable input on either side) are dropped.
    """
    if resamples < 1000:
        raise ValueError("use at least 1000 bootstrap resamples")
    values = np.asarray(differences, dtype=np.float64)
    if values.shape != (len(session_keys),):
        raise ValueError("need one session key per difference")
    finite = np.isfinite(values)
    values = values[finite]
    if values.size == 0:
        raise ValueError("no finite differences to bootstrap")
    keys = np.asarray(session_keys, dtype=object)[finite].astype(str)
    _, session_index = np.unique(keys, return_inverse=True)
    session_sums = np.bincount(session_index, weights=values)
    session_counts = np.bincount(session_index).astype(np.float64)
    n_sessions = session_sums.size
    mean = float(values.mean())

    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    rows_per_chunk = max(1, _MAX_INDEX_CELLS // n_sessions)
    for start in range(0, resamples, rows_per_chunk):
        stop = min(resamples, start + rows_per_chunk)
        picks = rng.integers(0, n_sessions, size=(stop - start, n_sessions))
        means[start:stop] = session_sums[picks].sum(axis=1) / session_counts[picks].sum(axis=1)

    widening = math.sqrt(n_sessions / (n_sessions - 1)) if n_sessions > 1 else 1.0
    means = mean + (means - mean) * widening
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return BootstrapResult(
        mean=mean,
        low=float(low),
        high=float(high),
        standard_error=float(means.std(ddof=1)),
        n_units=int(values.size),
        n_sessions=n_sessions,
        level=level,
        resampled_means=means,
    )


def change_interval(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    session_keys: Sequence[str],
    *,
    quantile: float | None,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
) -> ChangeInterval | None:
    """CI of the relative change of a per-run statistic of paired values (mean cost, p95 latency);
    None when the change is unknown (the baseline's statistic is not positive, e.g. no cost reported).

    The statistic is the mean (`quantile=None`) or the given quantile of each side, and the change is
    100 * (candidate statistic / baseline statistic - 1). Sessions are resampled exactly as
    `paired_bootstrap` resamples them with the same seed (the same draws); both sides are computed on
    each resample, so what the two runs share (the inputs' mix) cancels and what differs (the agent's
    re-drawn timing, its answers) is what the interval measures. Resampled quantiles are inverted-CDF
    quantiles of the session-weighted inputs; the point estimate is `np.percentile`'s, the figure
    shown everywhere else. Percentile interval, widened by sqrt(G / (G - 1)) as in `paired_bootstrap`.
    Pairs with a non-finite value on either side are dropped.
    """
    if resamples < 1000:
        raise ValueError("use at least 1000 bootstrap resamples")
    base = np.asarray(baseline, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if base.shape != (len(session_keys),) or cand.shape != base.shape:
        raise ValueError("need one session key per pair of values")
    finite = np.isfinite(base) & np.isfinite(cand)
    base, cand = base[finite], cand[finite]
    if base.size == 0:
        raise ValueError("no finite pairs to bootstrap")
    keys = np.asarray(session_keys, dtype=object)[finite].astype(str)
    _, session_index = np.unique(keys, return_inverse=True)
    n_sessions = int(session_index.max()) + 1

    def statistic(values: FloatArray) -> float:
        return float(values.mean() if quantile is None else np.percentile(values, 100.0 * quantile))

    point = _ratio(statistic(cand), statistic(base))
    if not math.isfinite(point):
        return None
    rng = np.random.default_rng(seed)
    ratios = np.empty(resamples, dtype=np.float64)
    rows_per_chunk = max(1, _MAX_INDEX_CELLS // max(n_sessions, base.size))
    base_order, cand_order = np.argsort(base, kind="stable"), np.argsort(cand, kind="stable")
    for start in range(0, resamples, rows_per_chunk):
        stop = min(resamples, start + rows_per_chunk)
        picks = rng.integers(0, n_sessions, size=(stop - start, n_sessions))
        cells = (np.arange(stop - start)[:, None] * n_sessions + picks).ravel()
        counts = np.bincount(cells, minlength=(stop - start) * n_sessions).astype(np.float64)
        counts = counts.reshape(stop - start, n_sessions)
        weights = counts[:, session_index]
        with np.errstate(divide="ignore", invalid="ignore"):
            if quantile is None:
                ratios[start:stop] = (weights @ cand) / (weights @ base)
            else:
                ratios[start:stop] = _weighted_quantile(
                    cand, cand_order, weights, quantile
                ) / _weighted_quantile(base, base_order, weights, quantile)
    ratios[~np.isfinite(ratios)] = np.nan  # a resample whose baseline statistic is 0
    widening = math.sqrt(n_sessions / (n_sessions - 1)) if n_sessions > 1 else 1.0
    ratios = point + (ratios - point) * widening
    tail = (1.0 - level) / 2.0
    low, high = np.nanquantile(ratios, [tail, 1.0 - tail])
    return ChangeInterval(100.0 * (point - 1.0), 100.0 * (float(low) - 1.0), 100.0 * (float(high) - 1.0))


def _ratio(candidate: float, baseline: float) -> float:
    return candidate / baseline if baseline > 0 and math.isfinite(candidate) else math.nan


def _weighted_quantile(
    values: FloatArray, order: npt.NDArray[np.intp], weights: FloatArray, q: float
) -> FloatArray:
    """Per row of `weights`, the inverted-CDF `q` quantile of `values` weighted by that row."""
    cumulative = np.cumsum(weights[:, order], axis=1)
    below = (cumulative < q * cumulative[:, -1:]).sum(axis=1)
    return values[order][np.minimum(below, values.size - 1)]


# --------------------------------------------------------------------------------------------------
# Tests and corrections


@dataclass(frozen=True, slots=True)
class McNemarResult:
    """`improved` = baseline failed and candidate passed; `regressed` = the reverse."""

    improved: int
    regressed: int
    p_value: float

    def to_dict(self) -> dict[str, float]:
        return {"improved": self.improved, "regressed": self.regressed, "p_value": self.p_value}


def mcnemar_exact(baseline_passed: npt.ArrayLike, candidate_passed: npt.ArrayLike) -> McNemarResult:
    """Exact two-sided McNemar test on paired pass/fail outcomes.

    Under H0 each discordant pair is equally likely to go either way, so with n discordant pairs
    and k = min(improved, regressed): p = min(1, 2 * P(Binomial(n, 1/2) <= k)).
    """
    baseline = np.asarray(baseline_passed, dtype=np.bool_)
    candidate = np.asarray(candidate_passed, dtype=np.bool_)
    if baseline.shape != candidate.shape:
        raise ValueError("paired outcomes must have the same shape")
    improved = int(np.count_nonzero(~baseline & candidate))
    regressed = int(np.count_nonzero(baseline & ~candidate))
    return McNemarResult(improved, regressed, binomial_two_sided_p(improved, improved + regressed))


def binomial_two_sided_p(successes: int, trials: int) -> float:
    """Two-sided exact p-value of a fair-coin binomial test (doubling the smaller tail)."""
    if trials == 0:
        return 1.0
    return min(1.0, 2.0 * _binomial_lower_tail(min(successes, trials - successes), trials))


def binomial_upper_p(successes: int, trials: int) -> float:
    """One-sided exact p-value of a fair-coin binomial test: P(Binomial(trials, 1/2) >= successes),
    small = evidence that successes are more likely than failures."""
    if trials == 0 or successes <= 0:
        return 1.0
    return _binomial_lower_tail(trials - successes, trials)


def _binomial_lower_tail(k: int, trials: int) -> float:
    """P(Binomial(trials, 1/2) <= k), exact (in log space above `_EXACT_BINOMIAL_MAX_N`)."""
    if trials <= _EXACT_BINOMIAL_MAX_N:
        return sum(math.comb(trials, i) for i in range(k + 1)) / 2**trials
    ks = np.arange(k + 1, dtype=np.float64)
    log_terms = (
        math.lgamma(trials + 1)
        - np.array([math.lgamma(i + 1) + math.lgamma(trials - i + 1) for i in ks])
        - trials * math.log(2.0)
    )
    peak = float(log_terms.max())
    return min(1.0, math.exp(peak) * float(np.exp(log_terms - peak).sum()))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order.

    Sorted ascending, the i-th (0-based) of m gets max over j <= i of min(1, (m - j) * p_(j)); rejecting
    where adjusted p <= alpha controls the family-wise error rate at alpha.
    """
    count = len(p_values)
    order = sorted(range(count), key=lambda index: p_values[index])
    adjusted = [0.0] * count
    running_max = 0.0
    for rank, index in enumerate(order):
        running_max = max(running_max, min(1.0, (count - rank) * p_values[index]))
        adjusted[index] = running_max
    return adjusted


def is_non_inferior(bootstrap: BootstrapResult, margin: float) -> bool:
    """The candidate is not worse than the baseline by more than `margin` (CI lower bound > -margin)."""
    return bootstrap.low > -margin


def _z(probability: float) -> float:
    return NormalDist().inv_cdf(probability)


def minimum_detectable_effect(standard_error: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """(z_{1-alpha/2} + z_{power}) * SE: about 2.80 * SE at alpha 0.05 and power 0.8."""
    return (_z(1.0 - alpha / 2.0) + _z(power)) * standard_error


def mde_for_sample_size(
    sd_difference: float, n_units: int, *, design_effect: float = 1.0, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Planning MDE for a holdout of `n_units` paired inputs; `design_effect` = 1 + (m - 1) * ICC for
    sessions of m traces with intra-session correlation ICC."""
    if n_units <= 0:
        return math.inf
    return minimum_detectable_effect(
        sd_difference * math.sqrt(design_effect / n_units), alpha=alpha, power=power
    )


# --------------------------------------------------------------------------------------------------
# Verdict


@dataclass(frozen=True, slots=True)
class VerdictPolicy:
    """The bars a finalist must clear; from the workspace's guardrails and the scan config.

    `material_saving_pct`: a candidate is judged by non-inferiority only when it lowers mean cost or
    p95 latency by at least this much; a smaller saving is no reason to accept a change that does not
    improve anything, so it has to show superiority like every other change.
    """

    min_holdout_gain: float = DEFAULT_MIN_HOLDOUT_GAIN
    non_inferiority_margin: float = 0.01
    alpha: float = 0.05
    power: float = 0.8
    max_cost_increase_pct: float = DEFAULT_MAX_COST_INCREASE_PCT
    max_latency_increase_pct: float = DEFAULT_MAX_LATENCY_INCREASE_PCT
    material_saving_pct: float = 10.0

    @classmethod
    def from_scan_config(cls, config: ScanConfig) -> VerdictPolicy:
        return cls(
            min_holdout_gain=config.min_holdout_gain,
            non_inferiority_margin=config.non_inferiority_margin,
            alpha=config.alpha,
            max_cost_increase_pct=config.max_cost_increase_pct,
            max_latency_increase_pct=config.max_latency_increase_pct,
            material_saving_pct=config.material_saving_pct,
        )


def change_pct(baseline: float, candidate: float) -> float:
    """Relative change in percent; 0 when the baseline is not a positive finite number."""
    if not (math.isfinite(baseline) and math.isfinite(candidate)) or baseline <= 0:
        return 0.0
    return 100.0 * (candidate - baseline) / baseline


@dataclass(frozen=True, slots=True, eq=False)
class VerdictEvidence:
    """A finalist's holdout figures, paired with the baseline on the same inputs.

    `bootstrap` is over per-input objective differences and `quality` (when known) over per-input
    quality differences, the rubric score alone; costs are means per trace; `mcnemar` maps pass/fail
    dimension keys to their paired test; `regressed_cluster_ids` are clusters the change did not
    target whose traces got worse. `targeted` (None for a change aimed at no cluster) counts the
    holdout inputs that left the targeted clusters (`improved`: the baseline's failure files into
    one of them, the candidate's reply into none) against those that entered them (`regressed`).
    `cost_interval` and `latency_interval` are the changes of mean cost and p95 latency with their
    session-bootstrap CIs (`change_interval`), on which the guardrails are judged.
    """

    bootstrap: BootstrapResult
    baseline_cost_usd: float
    candidate_cost_usd: float
    baseline_latency_p95_ms: float
    candidate_latency_p95_ms: float
    cost_interval: ChangeInterval | None
    latency_interval: ChangeInterval | None
    constraint_checks: tuple[ConstraintCheck, ...] = ()
    mcnemar: tuple[tuple[str, McNemarResult], ...] = ()
    regressed_cluster_ids: tuple[str, ...] = ()
    quality: BootstrapResult | None = None
    baseline_latency_mean_ms: float | None = None
    candidate_latency_mean_ms: float | None = None
    targeted: McNemarResult | None = None

    @property
    def cost_change_pct(self) -> float:
        return change_pct(self.baseline_cost_usd, self.candidate_cost_usd)

    @property
    def latency_change_pct(self) -> float:
        return change_pct(self.baseline_latency_p95_ms, self.candidate_latency_p95_ms)

    @property
    def mean_latency_change_pct(self) -> float:
        """Mean latency change when known, else the p95's. A saving is judged on the mean: the p95
        of a few hundred replays moves by 10% on its own (one slow tail more or less), which is
        what the guardrail should catch but no evidence that a change saves time."""
        if self.baseline_latency_mean_ms is None or self.candidate_latency_mean_ms is None:
            return self.latency_change_pct
        return change_pct(self.baseline_latency_mean_ms, self.candidate_latency_mean_ms)

    def material_saving(self, policy: VerdictPolicy) -> bool:
        """Mean cost or mean latency lower by at least the policy's material share."""
        return (
            self.cost_change_pct <= -policy.material_saving_pct
            or self.mean_latency_change_pct <= -policy.material_saving_pct
        )


class GuardrailState(StrEnum):
    EXCEEDED = "exceeded"
    MAY_EXCEED = "may_exceed"
    UNCONFIRMED = "unconfirmed"
    WITHIN = "within"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class GuardrailCheck:
    """A cost or latency guardrail judged on the change's interval, as the quality claim is:

    - `exceeded`: the CI's lower bound is above the limit, the change breaks it with confidence;
    - `may_exceed`: the estimate is above the limit but the CI reaches below it: the holdout cannot
      tell, so the change is not recommended (inconclusive) and not rejected on noise;
    - `unconfirmed`: the estimate is within the limit but the CI reaches above it. The p95 of a few
      hundred replays moves by 10-30% on the agent's timing jitter alone, so demanding the whole CI
      within a +10% limit would recommend nothing; the verdict holds the change to its estimate and
      the reason says that the holdout cannot confirm the guardrail;
    - `within`: the whole CI is within the limit;
    - `unknown`: no interval (a baseline without cost); the verdict cannot weigh it.
    The limit is inclusive. The verdict may recommend `unconfirmed` and `unknown` (a human reads the
    reason before accepting); a change passes a guardrail unattended (`holds_unattended`, what
    auto-apply demands) only when it is `within`.
    """

    measure: str
    interval: ChangeInterval | None
    limit_pct: float

    @property
    def state(self) -> GuardrailState:
        interval = self.interval
        if interval is None:
            return GuardrailState.UNKNOWN
        if interval.low_pct > self.limit_pct:
            return GuardrailState.EXCEEDED
        if interval.change_pct > self.limit_pct:
            return GuardrailState.MAY_EXCEED
        if interval.high_pct > self.limit_pct:
            return GuardrailState.UNCONFIRMED
        return GuardrailState.WITHIN

    @property
    def holds_unattended(self) -> bool:
        """Within the limit with confidence (the CI's upper bound at most the limit): the only state
        in which a change may pass this guardrail with no human in the loop."""
        return self.state is GuardrailState.WITHIN

    def describe(self) -> str:
        if self.interval is None:
            return f"{self.measure} unknown"
        return self.interval.describe(self.measure)

    def explain(self) -> str:
        limit = f"guardrail {self.limit_pct:g}%"
        interval = self.interval
        if interval is None:
            return f"{self.measure} change unknown (nothing measured on the baseline): {limit} not checked"
        change = f"{self.measure} {interval.change_pct:+.1f}%"
        state = self.state
        if state is GuardrailState.EXCEEDED:
            return f"{change} > {limit} (CI lower bound {interval.low_pct:+.1f}%)"
        if state is GuardrailState.MAY_EXCEED:
            return (
                f"{change} may exceed {limit}: its CI [{interval.low_pct:+.1f}%, "
                f"{interval.high_pct:+.1f}%] reaches both sides, the holdout cannot tell"
            )
        if state is GuardrailState.UNCONFIRMED:
            return (
                f"{change} within {limit} by its estimate; this holdout cannot confirm it (CI upper "
                f"bound {interval.high_pct:+.1f}%)"
            )
        return f"{change} within {limit}"


def guardrail_checks(
    cost: ChangeInterval | None,
    latency: ChangeInterval | None,
    *,
    max_cost_increase_pct: float,
    max_latency_increase_pct: float,
) -> tuple[GuardrailCheck, GuardrailCheck]:
    """The workspace's cost and p95 latency guardrails on a change's intervals: what the verdict
    judges and what auto-apply checks again, under the workspace's guardrails when it acts."""
    return (
        GuardrailCheck("cost", cost, max_cost_increase_pct),
        GuardrailCheck("p95 latency", latency, max_latency_increase_pct),
    )


@dataclass(frozen=True, slots=True)
class VerdictDecision:
    verdict: Verdict
    reason: str
    test: str
    """`superiority` (objective gain above the bar) or `non_inferiority` (quality not worse by more
    than the margin, for a change with a material saving)."""
    p_value: float
    p_value_adjusted: float
    mde: float


@dataclass(frozen=True, slots=True, eq=False)
class HypothesisPlan:
    """Which hypothesis a finalist is tested on: the test, the bootstrap it reads (objective or
    quality differences), what that measures, and the threshold the CI lower bound must clear."""

    test: str
    bootstrap: BootstrapResult
    measure: str
    threshold: float


def hypothesis_for(evidence: VerdictEvidence, policy: VerdictPolicy) -> HypothesisPlan:
    """Non-inferiority on the quality component when the change saves materially (the objective
    already rewards the saving, so testing it would count the saving twice); otherwise superiority
    of the objective by the workspace's `min_holdout_gain`."""
    if evidence.quality is not None and evidence.material_saving(policy):
        return HypothesisPlan("non_inferiority", evidence.quality, "quality", -policy.non_inferiority_margin)
    return HypothesisPlan("superiority", evidence.bootstrap, "objective", policy.min_holdout_gain)


def worth_a_closer_look(evidence: VerdictEvidence, policy: VerdictPolicy) -> bool:
    """Whether more holdout inputs could turn an undecided finalist into a `recommend`: its estimates
    already meet every bar that only its intervals miss (the tested measure above its threshold, no
    guardrail's estimate above its limit). One whose estimate falls short would most likely stay
    short, so a second look at it is replays spent for nothing (a futility rule: it can only make
    recommending rarer, never a false one likelier)."""
    plan = hypothesis_for(evidence, policy)
    guardrails = guardrail_checks(
        evidence.cost_interval,
        evidence.latency_interval,
        max_cost_increase_pct=policy.max_cost_increase_pct,
        max_latency_increase_pct=policy.max_latency_increase_pct,
    )
    return plan.bootstrap.mean > plan.threshold and all(
        g.state is not GuardrailState.MAY_EXCEED and g.state is not GuardrailState.EXCEEDED
        for g in guardrails
    )


def describe_interval(measure: str, bootstrap: BootstrapResult) -> str:
    """E.g. `objective +0.160 [+0.140, +0.180]` (mean and 95% CI)."""
    return f"{measure} {bootstrap.mean:+.3f} [{bootstrap.low:+.3f}, {bootstrap.high:+.3f}]"


def decide_verdict(
    evidence: VerdictEvidence, policy: VerdictPolicy, *, p_value_adjusted: float | None = None
) -> VerdictDecision:
    """docs/scans.md phase 6 for one finalist.

    In order:
    1. reject when a constraint fails or a guardrail is exceeded with confidence (the CI of the cost
       or p95 latency change lies above the workspace's limit, `GuardrailCheck`), a pass/fail
       dimension regresses significantly (McNemar, more regressions than
       improvements at p < alpha), or untargeted clusters regress; the reason still states the
       validated gain, so a human can weigh it against the guardrail;
    2. inconclusive with fewer than `MIN_SESSIONS_FOR_VERDICT` sessions;
    3. recommend when the CI lower bound clears the threshold of `hypothesis_for` *and* the one-sided
       p-value, Holm-adjusted across the finalists (`p_value_adjusted`, else unadjusted), is at most
       alpha / 2 — the same level as the two-sided 95% CI, so Holm can only make it stricter — *and*,
       for a superiority claim of a change aimed at clusters, the change is shown to fix them: more
       holdout inputs leave the targeted clusters than enter them, one-sided exact binomial p at most
       alpha / 2 (`targeted`). A change set says "this fixes cluster X"; an objective gain that comes
       from elsewhere (the sampling noise of re-drawn answers, which a no-op change also re-draws)
       is no evidence for that, and without this test every such finalist is recommended at the
       test's full false-positive rate. Requiring both tests (an intersection-union test) keeps
       each at its level, so no further correction is needed; otherwise inconclusive. A guardrail
       whose estimate is above its limit but not confidently (`may_exceed`) makes it inconclusive
       too; one within by its estimate but not confirmed is named in the recommendation's reason;
    4. reject when the whole CI lies below the threshold (confidently not good enough);
    5. otherwise inconclusive, saying which true effect this holdout could have detected.

    Every reason starts with the measured interval (`objective +0.160 [+0.140, +0.180]`) and the cost
    and latency changes, then says why.
    """
    plan = hypothesis_for(evidence, policy)
    bootstrap = plan.bootstrap
    threshold = plan.threshold
    p_value = bootstrap.p_value_at_most(threshold)
    adjusted = p_value if p_value_adjusted is None else p_value_adjusted
    mde = minimum_detectable_effect(bootstrap.standard_error, alpha=policy.alpha, power=policy.power)
    guardrails = guardrail_checks(
        evidence.cost_interval,
        evidence.latency_interval,
        max_cost_increase_pct=policy.max_cost_increase_pct,
        max_latency_increase_pct=policy.max_latency_increase_pct,
    )
    figures = [describe_interval("objective", evidence.bootstrap)]
    if evidence.quality is not None:
        figures.append(describe_interval("quality", evidence.quality))
    figures.extend(guardrail.describe() for guardrail in guardrails)

    def decision(verdict: Verdict, why: str) -> VerdictDecision:
        return VerdictDecision(verdict, "; ".join([*figures, why]), plan.test, p_value, adjusted, mde)

    failures = [check for check in evidence.constraint_checks if not check.passed]
    if failures:
        names = ", ".join(check.name for check in failures)
        return decision(Verdict.REJECT, f"violates constraint(s): {names}")
    broken = [g for g in guardrails if g.state is GuardrailState.EXCEEDED]
    if broken:
        return decision(Verdict.REJECT, "; ".join(g.explain() for g in broken))
    for key, result in evidence.mcnemar:
        if result.regressed > result.improved and result.p_value < policy.alpha:
            return decision(
                Verdict.REJECT,
                f"dimension {key} regresses: {result.regressed} newly failing vs {result.improved} newly "
                f"passing (McNemar p = {result.p_value:.3g})",
            )
    if evidence.regressed_cluster_ids:
        return decision(
            Verdict.REJECT, f"regresses untargeted cluster(s) {', '.join(evidence.regressed_cluster_ids)}"
        )

    if bootstrap.n_sessions < MIN_SESSIONS_FOR_VERDICT:
        return decision(
            Verdict.INCONCLUSIVE,
            f"only {bootstrap.n_sessions} holdout sessions; at least {MIN_SESSIONS_FOR_VERDICT} needed",
        )
    if bootstrap.low > threshold and adjusted <= policy.alpha / 2.0:
        undecided = [g for g in guardrails if g.state is GuardrailState.MAY_EXCEED]
        if undecided:
            return decision(Verdict.INCONCLUSIVE, "; ".join(g.explain() for g in undecided))
        targeted = evidence.targeted
        if plan.test == "superiority" and targeted is not None:
            targeted_p = binomial_upper_p(targeted.improved, targeted.improved + targeted.regressed)
            if targeted_p > policy.alpha / 2.0:
                return decision(
                    Verdict.INCONCLUSIVE,
                    f"the gain is not shown where the change aims: {targeted.improved} holdout input(s) "
                    f"left its cluster(s) and {targeted.regressed} entered them (one-sided p = "
                    f"{targeted_p:.3g} > {policy.alpha / 2.0:g})",
                )
        unconfirmed = [g.explain() for g in guardrails if g.state is GuardrailState.UNCONFIRMED]
        if plan.test == "non_inferiority":
            return decision(
                Verdict.RECOMMEND,
                "; ".join(
                    [
                        f"material saving (>= {policy.material_saving_pct:g}%) and quality non-inferior "
                        f"within {policy.non_inferiority_margin:g}",
                        *unconfirmed,
                    ]
                ),
            )
        return decision(Verdict.RECOMMEND, "; ".join([f"objective gain above {threshold:g}", *unconfirmed]))
    if bootstrap.high < threshold:
        return decision(Verdict.REJECT, f"{plan.measure} confidently below {threshold:+g}")
    if threshold > 0 and bootstrap.low > 0:
        # Better than the baseline, but not shown to be better by the workspace's minimum.
        why = (
            f"a gain, but not shown to reach the minimum holdout gain {threshold:+g} (CI lower bound "
            f"{bootstrap.low:+.3f}, adjusted p = {adjusted:.3g})"
        )
    else:
        why = f"not enough evidence for {plan.test} (adjusted p = {adjusted:.3g})"
    return decision(
        Verdict.INCONCLUSIVE,
        f"{why}; with this holdout a true {plan.measure} effect of {threshold + mde:+.4f} or more would "
        f"be detected with {policy.power:.0%} power",
    )


def decide_verdicts(
    evidences: Sequence[VerdictEvidence], policy: VerdictPolicy, *, family_size: int | None = None
) -> list[VerdictDecision]:
    """Decide finalists together: one-sided p-values Holm-adjusted across them, or across a family of
    `family_size` tests of which the others are already decided (they count with p = 1, which keeps
    Holm's guarantee whichever of the family are judged here)."""
    plans = [hypothesis_for(e, policy) for e in evidences]
    p_values = [plan.bootstrap.p_value_at_most(plan.threshold) for plan in plans]
    padding = max(0, (family_size or 0) - len(p_values))
    adjusted = holm_adjust([*p_values, *[1.0] * padding])[: len(p_values)]
    return [
        decide_verdict(evidence, policy, p_value_adjusted=p)
        for evidence, p in zip(evidences, adjusted, strict=True)
    ]
