"""One tenant's scoring cannot freeze the API: against a real uvicorn server, a hostile rubric
(the catastrophic-backtracking patterns of the original report, and scoring heavy enough to run
for minutes) is scored on the scoring threads while `GET /api/v1/health` keeps answering, and the
heavy request ends in a 503 problem at the time limit instead of running on."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from fixtures_identity import Tenant, register_tenant
from integration.agents.traces_factory import ingest, llm_trace
from servers import serve_in_thread
from spectral.platform.evaluations.scoring_pool import Checkpoint, ScoringPool
from spectral.platform.jobs import JOB_FUNCTIONS
from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import InProcessQueue
from spectral.platform.shared.settings import Environment, Settings
from spectral_api.app import create_app
from spectral_api.state import AppState
from testenv import TEST_JWT_SECRET

pytestmark = pytest.mark.both_backends

T = TypeVar("T")
TIME_LIMIT_S = 5.0
# Exponential for Python's backtracking engine on the outputs below; linear on RE2.
HOSTILE_PATTERNS = [r"(a+)+$", r"(a|aa)*$", r"^(\w+\s?)*$"]


@pytest.fixture
def live_state(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppState]:
    if backend == "sqlite":
        path = tmp_path / "spectral.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_url")
    settings = Settings(
        env=Environment.TEST,
        data_dir=tmp_path / "data",
        database_url=url,
        jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
        scoring_time_limit_s=TIME_LIMIT_S,
    )
    ctx: dict[str, object] = {"settings": settings}
    state = AppState(settings=settings, db=Database(url), queue=InProcessQueue(JOB_FUNCTIONS, ctx))
    ctx["db"], ctx["queue"] = state.db, state.queue
    state.scoring = ObservedScoringPool(threads=settings.scoring_threads, time_limit_s=TIME_LIMIT_S)
    yield state
    state.scoring.close()


@pytest.fixture
async def live_api(
    live_state: AppState,
) -> AsyncIterator[tuple[httpx.AsyncClient, Tenant, ObservedScoringPool]]:
    app = create_app(live_state.settings, state=live_state)
    # Only the server's loop touches the database; its connections are closed there.
    with serve_in_thread(app, after=live_state.db.dispose) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            assert isinstance(live_state.scoring, ObservedScoringPool)
            yield http, await register_tenant(http, app, "Tenant under attack"), live_state.scoring


async def _hostile_rubric(http: httpx.AsyncClient, tenant: Tenant, agent_id: str, extra: list[Any]) -> str:
    dimensions = [
        {
            "key": f"never_{index}",
            "scorer": {
                "type": "regex",
                "params": {"pattern": pattern, "full_match": True, "should_match": False},
            },
        }
        for index, pattern in enumerate(HOSTILE_PATTERNS)
    ]
    response = await http.post(
        f"{tenant.ws}/evaluations/rubrics",
        json={"name": f"Hostile {len(extra)}", "agent_id": agent_id, "dimensions": dimensions + extra},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    rubric_id: str = response.json()["id"]
    return rubric_id


class ObservedScoringPool(ScoringPool):
    """The real pool, telling the test when the work starts and ends, on whichever thread runs it."""

    def __init__(self, *, threads: int, time_limit_s: float) -> None:
        super().__init__(threads=threads, time_limit_s=time_limit_s)
        self.started = threading.Event()
        self.finished = threading.Event()

    async def run(self, work: Callable[[Checkpoint], T], *, what: str, hint: str = "try again later") -> T:
        def observed(checkpoint: Checkpoint) -> T:
            self.started.set()
            try:
                return work(checkpoint)
            finally:
                self.finished.set()

        return await super().run(observed, what=what, hint=hint)


async def test_hostile_rubrics_do_not_stall_other_requests(
    live_api: tuple[httpx.AsyncClient, Tenant, ObservedScoringPool],
) -> None:
    http, tenant, scoring = live_api
    agent = await http.post(
        f"{tenant.ws}/agents", json={"name": "Victim", "slug": "victim"}, headers=tenant.headers
    )
    assert agent.status_code == 201, agent.text
    agent_id = agent.json()["id"]

    # The report's case: four short failing traces against catastrophic patterns. Every trace
    # passes those dimensions (nothing matches), so all four are blind spots.
    short = [llm_trace("victim", f"q{i}", "a" * 40 + "!", index=i, error="boom")[1] for i in range(4)]
    await ingest(http, tenant, [span for spans in short for span in spans])
    rubric_id = await _hostile_rubric(http, tenant, agent_id, [])
    answered = await http.get(
        f"{tenant.ws}/evaluations/rubrics/{rubric_id}/suggestions", headers=tenant.headers
    )
    assert answered.status_code == 200, answered.text
    assert (answered.json()["traces_analysed"], answered.json()["blind_spots"]) == (4, 4)

    # Heavy scoring: edit distance between 10,000-character texts for 200 traces is minutes of
    # CPU. It runs on a scoring thread and stops at the time limit; health answers meanwhile.
    long = [
        llm_trace("victim", f"long {i}", "a" * 10_000 + "!", index=10 + i, error="boom")[1]
        for i in range(200)
    ]
    await ingest(http, tenant, [span for spans in long for span in spans])
    heavy = {
        "key": "close_to_reference",
        "threshold": 0.0,
        "scorer": {"type": "similarity", "params": {"method": "edit", "expected": "ab" * 5_000}},
    }
    heavy_rubric = await _hostile_rubric(http, tenant, agent_id, [heavy])
    scoring.started.clear()
    scoring.finished.clear()
    suggestions = asyncio.create_task(
        http.get(f"{tenant.ws}/evaluations/rubrics/{heavy_rubric}/suggestions", headers=tenant.headers)
    )
    assert await asyncio.to_thread(scoring.started.wait, 60)
    answered_while_scoring: list[int] = []
    while not scoring.finished.is_set():
        health = await http.get("/api/v1/health")
        if not scoring.finished.is_set():
            answered_while_scoring.append(health.status_code)
        await asyncio.sleep(0.05)
    stopped = await suggestions

    # Health answered, and answered 200, while the hostile request was being scored.
    assert answered_while_scoring
    assert set(answered_while_scoring) == {200}
    assert stopped.status_code == 503, stopped.text
    assert stopped.headers["content-type"].startswith("application/problem+json")
    assert stopped.headers["retry-after"] == str(round(TIME_LIMIT_S))
    problem = stopped.json()
    assert problem["type"].endswith("/scoring-time-limit")
    assert "SPECTRAL_SCORING_TIME_LIMIT_S" in problem["detail"]

    # The server is still whole: the same tenant gets ordinary answers.
    listed = await http.get(f"{tenant.ws}/evaluations/rubrics", headers=tenant.headers)
    assert listed.status_code == 200
    assert listed.json()["pagination"]["total"] == 2
