"""Online sampling and batch job ids: pure functions, the same answer on every process."""

from __future__ import annotations

import random
import uuid

import pytest

from spectral.platform.evaluations.online import batch_job_id, sampled

WORKSPACE = uuid.UUID(int=7)


def _trace_ids(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(128):032x}" for _ in range(n)]


@pytest.mark.parametrize("rate", [0.05, 0.3, 0.5, 0.9])
def test_the_sampled_share_follows_the_rate(rate: float) -> None:
    ids = _trace_ids(20_000)
    share = sum(sampled(t, rate) for t in ids) / len(ids)
    assert abs(share - rate) < 0.015


def test_rates_nest_and_the_ends_are_all_or_nothing() -> None:
    ids = _trace_ids(2_000)
    low = {t for t in ids if sampled(t, 0.2)}
    high = {t for t in ids if sampled(t, 0.6)}
    # Raising the rate only adds traces: what was scored stays scored.
    assert low < high
    assert all(sampled(t, 1.0) for t in ids)
    assert not any(sampled(t, 0.0) for t in ids)


def test_batch_job_ids_depend_on_the_spans_not_their_order() -> None:
    traces, spans = ["a" * 32, "b" * 32], ["1" * 16, "2" * 16]
    same = batch_job_id(WORKSPACE, list(reversed(traces)), list(reversed(spans)))
    assert batch_job_id(WORKSPACE, traces, spans) == same
    assert batch_job_id(WORKSPACE, traces, [*spans, "3" * 16]) != same
    assert batch_job_id(uuid.UUID(int=8), traces, spans) != same
    assert same.startswith("online:")
