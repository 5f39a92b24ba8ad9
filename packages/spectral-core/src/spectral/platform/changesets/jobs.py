"""Experiment and validation-run plumbing: claim a run, do its work, record success or failure.

`run_experiment` lives here; the validation run needs a scan's inputs, so its job is in `scans.jobs`
and uses `run_job` below."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from spectral.engine.errors import EngineError
from spectral.engine.experiments import run_experiment as run_engine_experiment
from spectral.engine.types import AgentConfig
from spectral.platform.agents import repository as agents_repository
from spectral.platform.agents import service as agents_service
from spectral.platform.changesets import repository
from spectral.platform.changesets.lifecycle import RUN_LIFECYCLE
from spectral.platform.changesets.models import Experiment, ValidationRun
from spectral.platform.changesets.replay import HttpReplayRunner, build_runner
from spectral.platform.evaluations import service as evaluations_service
from spectral.platform.samples import service as samples_service
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.engine_thread import bridged, run_on_engine_thread
from spectral.platform.shared.errors import DomainError
from spectral.platform.shared.settings import Settings

log = logging.getLogger("spectral.changesets")
RunRow = TypeVar("RunRow", Experiment, ValidationRun)


class RunFailed(Exception):
    """A run cannot proceed for a reason its owner should read (stored as the run's error)."""


async def run_job(
    db: Database,
    model: type[RunRow],
    run_id: uuid.UUID,
    work: Callable[[], Awaitable[None]],
) -> str:
    async with db.session() as session:
        if not await repository.claim_run(session, model, run_id):
            return "skipped"
    try:
        await work()
    except (RunFailed, DomainError, EngineError, ValueError) as exc:
        await finish_run(db, model, run_id, "fail", error=str(exc))
        return "failed"
    except Exception as exc:
        log.exception("run failed", extra={"run_id": str(run_id)})
        await finish_run(db, model, run_id, "fail", error=f"{type(exc).__name__}: {exc}")
        return "failed"
    return "succeeded"


async def finish_run(
    db: Database, model: type[RunRow], run_id: uuid.UUID, action: str, **values: Any
) -> None:
    async with db.session() as session:
        row = await repository.load_run(session, model, run_id)
        if row is None:  # deleted with its workspace while it ran
            return
        row.status = RUN_LIFECYCLE.next_status(row.id, row.status, action)
        row.finished_at = utcnow()
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)


def require_runner(replay_url: str | None, settings: Settings) -> HttpReplayRunner:
    runner = build_runner(replay_url, settings)
    if runner is None:
        raise RunFailed("the agent has no replay_url: nothing can run the candidate")
    return runner


async def run_experiment(ctx: dict[str, Any], *, experiment_id: str) -> str:
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    run_id = uuid.UUID(experiment_id)

    async def work() -> None:
        async with db.session(writes=False) as session:  # reads its inputs only
            experiment = await repository.load_run(session, Experiment, run_id)
            if experiment is None:
                raise RunFailed(f"experiment {run_id} no longer exists")
            ws = experiment.workspace_id
            agent = await agents_repository.get_agent(session, ws, experiment.agent_id)
            if agent is None:
                raise RunFailed(f"agent {experiment.agent_id} no longer exists")
            baseline = await agents_service.active_config(session, ws, agent.id)
            inputs = await samples_service.load_replay_inputs(session, ws, experiment.sample_set_id)
            rubric = await evaluations_service.load_rubric(session, ws, experiment.rubric_id)
            objective, _ = await evaluations_service.load_objective(session, ws, experiment.objective_id)
            candidate = AgentConfig.from_dict(experiment.candidate_config)
        runner = require_runner(agent.replay_url, settings)
        loop = asyncio.get_running_loop()
        try:
            report = await run_on_engine_thread(
                lambda: run_engine_experiment(
                    baseline=baseline,
                    candidate=candidate,
                    inputs=inputs,
                    rubric=rubric,
                    objective=objective,
                    runner=bridged(runner, loop),
                    candidate_id=str(run_id),
                )
            )
        finally:
            await runner.aclose()
        data = report.to_dict()
        rows = data.pop("rows")
        await finish_run(db, Experiment, run_id, "succeed", results=rows, aggregate=data)

    return await run_job(db, Experiment, run_id, work)
