"""CPU-bound scoring a request asks for, run off the event loop with a time limit.

Scoring thousands of traces (the rubric's blind spots, a drafted rubric) is pure Python for
seconds. On the API's event loop that would stall every other request of every tenant, so it runs
on a small pool of threads of its own (not the loop's default executor, which DNS look-ups and
password hashing share), and the work calls `checkpoint()` between traces: past the deadline,
counted from when the request asked, it stops and the request gets a 503 problem saying so. User
patterns are RE2 (linear), so the time between two checkpoints is bounded by one trace's size.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from spectral.platform.shared.errors import ServiceUnavailableError

T = TypeVar("T")
Checkpoint = Callable[[], None]


class ScoringTimeLimitError(ServiceUnavailableError):
    slug = "scoring-time-limit"
    title = "Scoring Time Limit Reached"


class _DeadlinePassed(Exception):
    pass


class ScoringPool:
    def __init__(self, *, threads: int, time_limit_s: float) -> None:
        self.time_limit_s = time_limit_s
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="spectral-scoring")

    async def run(self, work: Callable[[Checkpoint], T], *, what: str, hint: str = "try again later") -> T:
        """`work(checkpoint)` on a scoring thread; `ScoringTimeLimitError` (503) past the limit."""
        deadline = time.monotonic() + self.time_limit_s

        def checkpoint() -> None:
            if time.monotonic() > deadline:
                raise _DeadlinePassed

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, work, checkpoint)
        except _DeadlinePassed:
            raise ScoringTimeLimitError(
                f"{what} needed more than the {self.time_limit_s:g} s this server allows "
                f"(SPECTRAL_SCORING_TIME_LIMIT_S) while other requests were served; {hint}",
                retry_after=max(1, round(self.time_limit_s)),
            ) from None

    def close(self) -> None:
        """Stop taking work; a running job ends at its next checkpoint past its deadline."""
        self._executor.shutdown(wait=False, cancel_futures=True)
