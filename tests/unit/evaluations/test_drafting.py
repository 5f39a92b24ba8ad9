"""The drafted latency and cost limits leave the guardrails' room above the observed p95."""

from __future__ import annotations

from spectral.engine.types import Trace
from spectral.platform.evaluations.drafting import draft_dimensions


def _traces(costs: list[float]) -> list[Trace]:
    return [
        Trace(trace_id=f"{i:032x}", input="q", output="a", cost_usd=cost, latency_ms=1000.0 + cost * 1e5)
        for i, cost in enumerate(costs)
    ]


def test_a_change_within_the_guardrails_does_not_fail_the_drafted_limits() -> None:
    """Answers cut at max_tokens all cost (and take) the same, and they are the costliest: the p95
    sits on them. A prompt instruction adds 1% to every call; with a limit at the bare p95 each of
    them would newly fail, and validation would reject the instruction for regressing the
    dimension although the cost guardrail (+10%) accepts it."""
    costs = [0.004 + 0.00001 * (i % 100) for i in range(900)] + [0.0055] * 100
    drafts = draft_dimensions(_traces(costs), lambda: None, latency_allowance_pct=10, cost_allowance_pct=10)
    params = {d.dimension.key: d.dimension.scorer.params for d in drafts}
    assert 0.0055 * 1.01 <= params["cost"]["max_usd"] < 0.0055 * 1.2
    assert 1550 * 1.01 <= params["latency"]["max_ms"] < 1550 * 1.2
    # Without an allowance the limit is the p95 itself: the cut answers sit right at it.
    bare = draft_dimensions(_traces(costs), lambda: None)
    assert {d.dimension.key: d.dimension.scorer.params for d in bare}["cost"]["max_usd"] < 0.0055 * 1.01
