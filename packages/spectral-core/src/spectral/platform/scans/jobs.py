"""The scan's background jobs: run a scan, start due schedules, reap scans whose worker died.

`run_scan` is registered under the job name `run_scan` and runs in `spectral-worker` (scans
queue) or, embedded, on the API's loop; the engine's CPU work runs on a thread of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.errors import ScanCancelled
from spectral.engine.pipeline import revalidate
from spectral.engine.pipeline import run_scan as run_engine_scan
from spectral.engine.report import render_markdown, report_json
from spectral.engine.types import AgentConfig, EventLevel, ScanPhase, ScanReport, Verdict
from spectral.platform.changesets import repository as changesets_repository
from spectral.platform.changesets import service as changesets_service
from spectral.platform.changesets.jobs import RunFailed, finish_run, require_runner, run_job
from spectral.platform.changesets.models import ValidationRun
from spectral.platform.changesets.replay import GatewayTemplateRunner, HttpReplayRunner, build_runner
from spectral.platform.evaluations import online
from spectral.platform.models.gateway import CallContext, ModelGateway
from spectral.platform.models.models import CallPurpose
from spectral.platform.models.pricing import default_catalog
from spectral.platform.models.scan_models import scan_models
from spectral.platform.scans import repository
from spectral.platform.scans.autonomy import auto_apply_recommended
from spectral.platform.scans.hooks import DbScanHooks
from spectral.platform.scans.inputs import load_scan_inputs
from spectral.platform.scans.lifecycle import SCAN_LIFECYCLE, ScanAction, ScanStatus
from spectral.platform.scans.models import Scan
from spectral.platform.scans.service import defer_scan_run, finish_scan, start_due_scans
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.engine_thread import bridged, run_on_engine_thread
from spectral.platform.shared.queue import JobQueue
from spectral.platform.shared.settings import Settings
from spectral.platform.shared.unit_of_work import commit_and_enqueue

log = logging.getLogger("spectral.scans")

# A scan still queued after this long lost its job (e.g. the embedded process restarted).
FORGOTTEN_AFTER = timedelta(minutes=10)
MAX_ATTEMPTS = 2


async def run_scan(ctx: dict[str, Any], *, scan_id: str) -> str:
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    scan_uuid = uuid.UUID(scan_id)
    async with db.session() as session:
        if not await repository.claim_scan(session, scan_uuid, utcnow()):
            # Another worker has it, or it was cancelled or finished: running it again would duplicate work.
            return "skipped"
    hooks = DbScanHooks(db, scan_uuid)
    heartbeat = asyncio.create_task(hooks.heartbeat_forever(), name=f"heartbeat:{scan_id}")
    gateway = ModelGateway.from_settings(db, settings)
    runner: HttpReplayRunner | GatewayTemplateRunner | None = None
    try:
        async with db.session(writes=False) as session:  # reads its inputs only
            scan = await repository.load_scan(session, scan_uuid)
            assert scan is not None
            models = (
                await scan_models(
                    gateway,
                    workspace_id=scan.workspace_id,
                    scan_id=scan.id,
                    budget_usd=float(scan.parameters.get("budget_usd", 0.0)),
                )
                if gateway
                else None
            )
            loaded = await load_scan_inputs(
                session, scan_uuid, with_model=models is not None and models.generator is not None
            )
            # llm_judge scores made online with the same rubric version are reused, not bought again.
            judge = await online.reusing_judge(
                session,
                loaded.workspace_id,
                scan.rubric_id,
                loaded.inputs.traces,
                models.judge if models else None,
            )
        runner = build_runner(loaded.agent_replay_url, settings)
        if runner is None and models is not None:
            runner = GatewayTemplateRunner(
                models.gateway,
                CallContext(loaded.workspace_id, scan_uuid, CallPurpose.REPLAY),
                models.budget,
                catalog=default_catalog(),
            )
        await hooks.event(
            ScanPhase.COLLECT,
            EventLevel.INFO,
            f"scan started: {len(loaded.inputs.traces)} traces, replay "
            + (
                "by the agent's replay endpoint"
                if isinstance(runner, HttpReplayRunner)
                else "of the managed templates through the model gateway"
                if runner
                else "unavailable (estimates only)"
            )
            + (", model gateway available" if models else ", no model gateway (offline)"),
            {
                "replay": runner is not None,
                "gateway": models is not None,
                "strategies": [s.value for s in loaded.inputs.config.strategies],
            },
        )
        loop = asyncio.get_running_loop()
        report = await run_on_engine_thread(
            lambda: run_engine_scan(
                loaded.inputs,
                runner=bridged(runner, loop),
                judge=bridged(judge, loop),
                generator=bridged(models.generator if models else None, loop),
                hooks=bridged(hooks, loop),
            )
        )
        async with db.session() as session:
            created = await _finish_succeeded(session, scan_uuid, loaded.base_version_number, report)
            await auto_apply_recommended(session, scan_uuid, created)
        return "succeeded"
    except ScanCancelled:
        await _finish(db, scan_uuid, ScanAction.CANCEL, error=None)
        await hooks.event(ScanPhase.REPORT, EventLevel.WARNING, "scan cancelled", {})
        return "cancelled"
    except Exception as exc:
        log.exception("scan failed", extra={"scan_id": scan_id})
        message = f"{type(exc).__name__}: {exc}"[:4000]
        await _finish(db, scan_uuid, ScanAction.FAIL, error=message)
        await hooks.event(ScanPhase.REPORT, EventLevel.ERROR, "scan failed", {"error": message})
        return "failed"
    finally:
        heartbeat.cancel()
        if runner is not None:
            await runner.aclose()
        if gateway is not None:
            await gateway.aclose()


def _summary(report: ScanReport, created: int) -> dict[str, Any]:
    return {
        "n_traces": report.n_traces,
        "n_analysis": report.n_analysis,
        "n_holdout": report.n_holdout,
        "n_failing": report.n_failing,
        "n_clusters": len(report.clusters),
        "n_changesets": created,
        "n_recommended": sum(1 for c in report.changes if c.verdict is Verdict.RECOMMEND),
        "n_rejected": sum(1 for c in report.changes if c.verdict is Verdict.REJECT),
        "replay_calls": report.replay.calls,
        "replay_cost_usd": report.replay.cost_usd,
        "baseline_objective": report.baseline_objective,
        "notes": list(report.notes),
    }


async def _finish_succeeded(
    session: AsyncSession, scan_id: uuid.UUID, base_version: int | None, report: ScanReport
) -> list[uuid.UUID]:
    scan = await repository.load_scan(session, scan_id)
    assert scan is not None
    created = await changesets_service.record_scan_results(
        session,
        workspace_id=scan.workspace_id,
        agent_id=scan.agent_id,
        scan_id=scan.id,
        base_version_number=base_version,
        report=report,
    )
    scan.report = json.loads(report_json(report))
    scan.report_markdown = render_markdown(report)
    scan.summary = _summary(report, len(created))
    scan.phase, scan.progress = ScanPhase.REPORT.value, 1.0
    finish_scan(session, scan, ScanAction.SUCCEED, utcnow())
    await session.flush()
    return [changeset.id for changeset in created]


async def _finish(db: Database, scan_id: uuid.UUID, action: ScanAction, *, error: str | None) -> None:
    async with db.session() as session:
        scan = await repository.load_scan(session, scan_id)
        if scan is None or not SCAN_LIFECYCLE.can(scan.status, action):
            return
        scan.error = error
        finish_scan(session, scan, action, utcnow())


async def tick_schedules(ctx: dict[str, Any]) -> int:
    """Cron: start the scans of due schedules (safe with several workers ticking at once)."""
    db: Database = ctx["db"]
    queue: JobQueue = ctx["queue"]
    async with db.sessionmaker() as session:
        started = await start_due_scans(session, utcnow())
        await commit_and_enqueue(session, queue)
    return len(started)


async def reap_stale_scans(ctx: dict[str, Any]) -> int:
    """Cron: a running scan with a stale heartbeat lost its worker. Re-run it once, then fail it;
    a queued scan nobody picked up for long is enqueued again. Nothing stays `running` forever."""
    db: Database = ctx["db"]
    queue: JobQueue = ctx["queue"]
    settings: Settings = ctx["settings"]
    now = utcnow()
    reaped = 0
    async with db.sessionmaker() as session:
        stale_before = now - timedelta(seconds=settings.scan_stale_after_s)
        for scan in await repository.stale_running_scans(session, stale_before):
            reaped += 1
            if scan.attempts < MAX_ATTEMPTS:
                _requeue(scan, "the worker stopped sending heartbeats; the scan is queued again")
                defer_scan_run(session, scan)
            else:
                scan.error = f"the worker was lost {scan.attempts} times; giving up"
                finish_scan(session, scan, ScanAction.FAIL, now)
            session.add(scan)
            await repository.add_event(
                session,
                scan.id,
                phase=scan.phase or ScanPhase.COLLECT.value,
                level=EventLevel.WARNING.value,
                message=scan.error or "re-queued after a lost worker",
                data={"attempts": scan.attempts},
            )
        for scan in await repository.forgotten_queued_scans(session, now - FORGOTTEN_AFTER):
            reaped += 1
            defer_scan_run(session, scan)
        await session.flush()
        await commit_and_enqueue(session, queue)
    return reaped


def _requeue(scan: Scan, reason: str) -> None:
    scan.status = SCAN_LIFECYCLE.next_status(scan.id, scan.status, ScanAction.REQUEUE)
    scan.error = reason
    scan.heartbeat_at = None
    assert scan.status == ScanStatus.QUEUED


async def run_validation(ctx: dict[str, Any], *, run_id: str) -> str:
    """A validation run: phase 6 again for one change set, on its scan's holdout, against the config
    it was proposed against, with the clusters it addresses (as curated) as the targeted ones."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    validation_id = uuid.UUID(run_id)

    async def work() -> None:
        async with db.session(writes=False) as session:  # reads its inputs only
            run = await changesets_repository.load_run(session, ValidationRun, validation_id)
            if run is None:
                raise RunFailed(f"validation run {validation_id} no longer exists")
            changeset = await changesets_repository.get_changeset(session, run.workspace_id, run.changeset_id)
            if changeset.scan_id is None:
                raise RunFailed(f"change set {changeset.id} has no scan to take a holdout from")
            scan = await repository.load_scan(session, changeset.scan_id)
            if scan is None or scan.report is None:
                raise RunFailed(f"the scan of change set {changeset.id} has no report")
            loaded = await load_scan_inputs(session, scan.id)
            targeted = await changesets_service.targeted_cluster_ids(session, changeset)
        inputs = dataclasses.replace(loaded.inputs, baseline=AgentConfig.from_dict(scan.report["baseline"]))
        runner = require_runner(loaded.agent_replay_url, settings)
        loop = asyncio.get_running_loop()
        try:
            result = await run_on_engine_thread(
                lambda: revalidate(
                    inputs,
                    AgentConfig.from_dict(changeset.candidate_config),
                    runner=bridged(runner, loop),
                    targeted_cluster_ids=targeted,
                    candidate_id=str(changeset.id),
                )
            )
        finally:
            await runner.aclose()
        await finish_run(db, ValidationRun, validation_id, "succeed", result=result.to_dict())
        async with db.session() as session:
            await changesets_service.record_validation(session, changeset.workspace_id, changeset.id, result)

    return await run_job(db, ValidationRun, validation_id, work)
