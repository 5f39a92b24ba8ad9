"""The scoring pool runs work on its own threads, leaves the event loop free meanwhile, and stops
work at its checkpoint once the time limit has passed (counted from the request, queueing included)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from spectral.platform.evaluations.scoring_pool import Checkpoint, ScoringPool, ScoringTimeLimitError
from spectral.platform.shared.errors import ServiceUnavailableError


async def test_work_runs_on_a_scoring_thread_and_returns_its_result() -> None:
    pool = ScoringPool(threads=1, time_limit_s=30)
    try:

        def work(checkpoint: Checkpoint) -> str:
            checkpoint()
            return threading.current_thread().name

        name = await pool.run(work, what="Scoring")
    finally:
        pool.close()
    assert name.startswith("spectral-scoring")
    assert name != threading.current_thread().name


async def test_work_past_the_limit_stops_with_a_503_and_the_loop_stays_free() -> None:
    pool = ScoringPool(threads=1, time_limit_s=0.2)
    stop_ticking = threading.Event()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while not stop_ticking.is_set():
            ticks += 1
            await asyncio.sleep(0)

    def endless(checkpoint: Checkpoint) -> None:
        while True:
            checkpoint()
            sum(range(1000))

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(ScoringTimeLimitError) as caught:
            await pool.run(endless, what="Scoring the rubric's blind spots")
    finally:
        stop_ticking.set()
        await ticker
        pool.close()
    assert isinstance(caught.value, ServiceUnavailableError)
    assert caught.value.status == 503
    assert caught.value.detail.startswith("Scoring the rubric's blind spots needed more than the 0.2 s")
    assert caught.value.retry_after == 1
    # The loop ran other coroutines while the endless work was being scored.
    assert ticks > 0


async def test_queued_work_whose_deadline_passed_while_waiting_does_not_run_on() -> None:
    pool = ScoringPool(threads=1, time_limit_s=0.2)
    release = threading.Event()
    ran: list[str] = []

    def occupying(_: Checkpoint) -> str:
        release.wait(30)
        return "first"

    def queued(checkpoint: Checkpoint) -> None:
        checkpoint()
        ran.append("queued")

    try:
        first = asyncio.create_task(pool.run(occupying, what="First"))
        second = asyncio.create_task(pool.run(queued, what="Second"))
        await asyncio.sleep(0)
        # The only thread is busy; the queued work's deadline passes before it can start.
        await asyncio.sleep(0.3)
        release.set()
        results = await asyncio.gather(first, second, return_exceptions=True)
    finally:
        release.set()
        pool.close()
    assert results[0] == "first"
    assert isinstance(results[1], ScoringTimeLimitError)
    assert ran == []
