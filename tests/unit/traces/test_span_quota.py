"""The in-memory token bucket over a clock the test moves: refill at the configured rate, never
past the burst, and a refused request takes nothing."""

from __future__ import annotations

import uuid

import pytest

from spectral.platform.shared.errors import RateLimitedError
from spectral.platform.traces.quota import InMemorySpanQuota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_bucket_refills_at_the_rate_and_never_beyond_the_burst() -> None:
    clock = Clock()
    quota = InMemorySpanQuota(rate=100, burst=500, clock=clock)
    workspace = uuid.uuid4()
    await quota.take(workspace, 500)
    with pytest.raises(RateLimitedError) as refused:
        await quota.take(workspace, 50)
    assert refused.value.retry_after == 1  # 50 spans at 100/s: half a second, rounded up

    clock.now += 0.5
    await quota.take(workspace, 50)  # exactly refilled
    with pytest.raises(RateLimitedError):
        await quota.take(workspace, 1)

    clock.now += 3600  # an idle hour refills to the burst, not to 360,000 spans
    await quota.take(workspace, 500)
    with pytest.raises(RateLimitedError):
        await quota.take(workspace, 1)


async def test_a_refused_request_takes_nothing_and_workspaces_are_apart() -> None:
    clock = Clock()
    quota = InMemorySpanQuota(rate=10, burst=100, clock=clock)
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    await quota.take(busy, 95)
    for _ in range(3):
        with pytest.raises(RateLimitedError):
            await quota.take(busy, 10)
    await quota.take(busy, 5)  # the refusals above took none of the remaining five
    await quota.take(quiet, 100)


async def test_a_batch_over_the_burst_fits_a_full_bucket_and_leaves_a_debt() -> None:
    clock = Clock()
    quota = InMemorySpanQuota(rate=10, burst=100, clock=clock)
    workspace = uuid.uuid4()
    await quota.take(workspace, 150)
    with pytest.raises(RateLimitedError) as refused:
        await quota.take(workspace, 1)
    assert refused.value.retry_after == 6  # 50 spans of debt + 1, at 10/s
    clock.now += 15  # debt repaid and the bucket full again
    await quota.take(workspace, 100)
