"""Online scoring: every ingested trace of an agent with an online rubric is scored in the worker.

After an ingest request's commit, the batch's traces of such agents (sampled by a hash of the trace
id against the agent's rate) are enqueued as one job whose id is derived from the batch, so a
retried batch is scored once. The job scores in batches with the rubric's deterministic scorers on a
thread (never on the event loop that serves requests), judges `llm_judge` dimensions only when a
model is configured and within the workspace's daily online budget, and stores per trace and
dimension the score with the rubric version. A rubric edit bumps its version; `rescore` re-scores
the traces of the agents that use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, time
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine import types as engine
from spectral.engine.protocols import Judge, JudgeScore
from spectral.engine.scoring.evaluation import CompiledRubric, judge_traces, score_traces
from spectral.engine.scoring.objective import objective_scales_from
from spectral.platform.agents import service as agents_service
from spectral.platform.agents.schemas import AgentRead, AgentUpdate
from spectral.platform.evaluations import repository
from spectral.platform.evaluations.models import Rubric, TraceDimensionScore
from spectral.platform.evaluations.schemas import RescoreStarted, RubricScoresRead
from spectral.platform.identity.principal import Principal
from spectral.platform.models.budget import Budget
from spectral.platform.models.gateway import CallContext, ModelGateway
from spectral.platform.models.judge import GatewayJudge
from spectral.platform.models.models import CallPurpose, ModelRole
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.db import Database
from spectral.platform.shared.errors import BusinessRuleViolationError, NotFoundError, ValidationFailedError
from spectral.platform.shared.queue import SCAN_QUEUE
from spectral.platform.shared.settings import Settings
from spectral.platform.shared.unit_of_work import defer_job
from spectral.platform.traces import repository as traces_repository
from spectral.platform.traces.queries import to_engine_trace
from spectral.platform.traces.repository import TraceScore
from spectral.platform.workspaces.audit import record_audit

SCORE_ONLINE_JOB = "score_online_traces"
RESCORE_JOB = "rescore_rubric"

log = logging.getLogger("spectral.online")

# Quality is what online scoring reports; cost and latency are shown beside it, not folded in.
_QUALITY_ONLY = engine.Objective()


def sampled(trace_id: str, rate: float) -> bool:
    """Whether a trace is in an agent's sample: the same answer for the same id on every process."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.blake2b(trace_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def batch_job_id(workspace_id: uuid.UUID, trace_ids: Iterable[str], span_ids: Iterable[str]) -> str:
    """The job id of an ingest batch: a retry of the same spans gets the same id (arq and the
    in-process queue then run it once); more spans of a trace in a later batch get another."""
    digest = hashlib.sha256(str(workspace_id).encode())
    for part in (sorted(set(trace_ids)), sorted(set(span_ids))):
        digest.update(b"\x00" + "\x1f".join(part).encode())
    return f"online:{digest.hexdigest()[:40]}"


# ------------------------------------------------------------------------------------------------
# Configuration (PATCH agents/{id} with online_rubric_id / online_sample_rate)


async def update_agent(
    session: AsyncSession,
    principal: Principal,
    agent_id: uuid.UUID,
    body: AgentUpdate,
    *,
    allow_private_replay: bool,
) -> AgentRead:
    """An agent update whose online rubric, when one is named, is a rubric of the same workspace
    (else 422, the same answer for a missing rubric and another tenant's)."""
    if body.online_rubric_id is not None:
        assert principal.workspace_id is not None
        if await repository.get_rubric(session, principal.workspace_id, body.online_rubric_id) is None:
            raise ValidationFailedError(
                f"No rubric {body.online_rubric_id} in this workspace",
                errors=[
                    {
                        "loc": ["body", "online_rubric_id"],
                        "msg": "no such rubric in this workspace",
                        "type": "value_error",
                    }
                ],
            )
    return await agents_service.update_agent(
        session, principal, agent_id, body, allow_private_replay=allow_private_replay
    )


# ------------------------------------------------------------------------------------------------
# The ingest hook


async def defer_online_scoring(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    trace_ids: Sequence[str],
    span_ids: Iterable[str],
    agents: agents_service.DirectoryCache | None = None,
) -> None:
    """Called by ingest before its commit: one scoring job for the batch's sampled traces of agents
    that score online, sent only once the spans are committed. Nothing, and no query, when no
    agent of the workspace does (the process's `agents` cache knows, when given)."""
    unique = sorted(set(trace_ids))
    if not unique or not (await agents_service.agent_directory(session, workspace_id, agents)).scores_online:
        return
    chosen = sorted(
        trace_id
        for trace_id, rate in await repository.online_traces(session, workspace_id, unique)
        if sampled(trace_id, rate)
    )
    if chosen:
        defer_job(
            session,
            SCORE_ONLINE_JOB,
            batch_job_id(workspace_id, unique, span_ids),
            workspace_id=str(workspace_id),
            trace_ids=chosen,
        )


# ------------------------------------------------------------------------------------------------
# Scoring


class _OnlineJudging:
    """The gateway's judge for one job, bound to the workspace's daily online budget (what the
    ledger says online judging spent today counts against it)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._gateway = ModelGateway.from_settings(db, settings)
        self._settings = settings
        self._judges: dict[uuid.UUID, GatewayJudge] = {}

    async def judge_for(self, session: AsyncSession, workspace_id: uuid.UUID) -> GatewayJudge | None:
        if self._gateway is None:
            return None
        if workspace_id not in self._judges:
            midnight = datetime.combine(utcnow().date(), time.min, tzinfo=utcnow().tzinfo)
            spent = await repository.online_judge_spend(session, workspace_id, midnight)
            budget = Budget(
                self._settings.online_judge_daily_budget_usd,
                spent_usd=min(spent, self._settings.online_judge_daily_budget_usd),
            )
            model = await self._gateway.role_model(ModelRole.JUDGE)
            self._judges[workspace_id] = GatewayJudge(
                self._gateway, CallContext(workspace_id, None, CallPurpose.JUDGE), budget, model
            )
        return self._judges[workspace_id]

    async def aclose(self) -> None:
        if self._gateway is not None:
            await self._gateway.aclose()


def _score_rows(
    workspace_id: uuid.UUID,
    rubric: Rubric,
    compiled: CompiledRubric,
    traces: Sequence[engine.Trace],
    rows: dict[str, Any],
    judgments: dict[tuple[str, str], JudgeScore],
) -> tuple[list[TraceDimensionScore], list[TraceScore]]:
    """CPU work, run on a thread: score the traces and shape what is stored."""
    table = score_traces(traces, compiled, _QUALITY_ONLY, objective_scales_from(traces), judgments=judgments)
    now = utcnow()
    judged = {d.key for d in compiled.rubric.dimensions if d.scorer.type is engine.ScorerType.LLM_JUDGE}
    cells: list[TraceDimensionScore] = []
    summaries: list[TraceScore] = []
    for index in range(len(table)):
        score = table.trace_score(index)
        row = rows[score.trace_id]
        for dimension in score.dimensions:
            cells.append(
                TraceDimensionScore(
                    workspace_id=workspace_id,
                    trace_id=score.trace_id,
                    rubric_id=rubric.id,
                    dimension_key=dimension.key,
                    rubric_version=rubric.version,
                    agent_id=row.agent_id,
                    trace_start_time=as_utc(row.start_time),
                    score=dimension.score,
                    passed=dimension.passed,
                    judged=dimension.key in judged,
                    reason=dimension.reason[:2000] or None,
                    scored_at=now,
                )
            )
        if score.quality is not None:
            summaries.append(
                TraceScore(
                    trace_id=score.trace_id,
                    score=score.quality,
                    details={
                        "source": "online",
                        "rubric_id": str(rubric.id),
                        "rubric_version": rubric.version,
                        "quality": score.quality,
                        "failed_dimensions": list(score.failed_dimensions),
                        "dimensions": {
                            d.key: {"score": d.score, "passed": d.passed, "reason": d.reason}
                            for d in score.dimensions
                        },
                    },
                )
            )
    return cells, summaries


async def score_with_rubric(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    rubric: Rubric,
    trace_ids: Sequence[str],
    judging: _OnlineJudging,
) -> int:
    """Score these traces with the rubric's current version and store the scores; returns how
    many traces were scored."""
    rows = {row.trace_id: row for row in await repository.traces_by_id(session, workspace_id, trace_ids)}
    if not rows:
        return 0
    ids = list(rows)
    engine_rubric = engine.Rubric.from_dict({"name": rubric.name, "dimensions": rubric.dimensions})
    compiled = CompiledRubric.compile(engine_rubric)
    # A judge reads the whole trace; deterministic scorers only its tool and failed spans.
    load_spans = traces_repository.spans_of if any(compiled.judged) else repository.scoring_spans
    spans: dict[str, list[Any]] = defaultdict(list)
    for span in await load_spans(session, workspace_id, list(rows.values())):
        spans[span.trace_id].append(span)
    feedback = await traces_repository.feedback_scores(session, workspace_id, ids)
    traces = [to_engine_trace(rows[i], spans.get(i, []), feedback.get(i, [])) for i in ids]
    judgments: dict[tuple[str, str], JudgeScore] = {}
    if any(compiled.judged):
        judge = await judging.judge_for(session, workspace_id)
        if judge is not None:
            # End this job's read transaction first: the gateway writes its ledger in a session of
            # its own, and on SQLite a transaction that read before that write cannot write after it.
            await session.commit()
            run = await judge_traces(traces, engine_rubric, judge)
            judgments = dict(run.judgments)
            if run.budget_exhausted:
                log.warning("online judge budget exhausted", extra={"workspace_id": str(workspace_id)})
    cells, summaries = await asyncio.to_thread(
        _score_rows, workspace_id, rubric, compiled, traces, rows, judgments
    )
    await repository.replace_dimension_scores(session, workspace_id, rubric.id, ids, cells)
    await traces_repository.record_trace_scores(session, workspace_id, summaries, utcnow())
    return len(ids)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def score_online_traces(ctx: dict[str, Any], *, workspace_id: str, trace_ids: list[str]) -> int:
    """The job: score a batch's traces with their agents' online rubrics (read now, so a rubric
    changed since ingest is the one used), in batches, one transaction per batch."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    ws = uuid.UUID(workspace_id)
    judging = _OnlineJudging(db, settings)
    scored = 0
    try:
        for chunk in _chunks(sorted(set(trace_ids)), settings.online_batch_size):
            async with db.session() as session:
                agents = await repository.online_agents(session, ws)
                by_rubric: dict[uuid.UUID, list[str]] = defaultdict(list)
                for trace_id, agent_id in await repository.trace_agents(session, ws, chunk):
                    if agent_id in agents:
                        by_rubric[agents[agent_id][0]].append(trace_id)
                for rubric_id, ids in sorted(by_rubric.items()):
                    rubric = await repository.get_rubric(session, ws, rubric_id)
                    if rubric is not None:
                        scored += await score_with_rubric(session, ws, rubric, ids, judging)
    finally:
        await judging.aclose()
    return scored


def rescore_key(rubric: Rubric, rates: Sequence[tuple[uuid.UUID, float]]) -> str:
    """What a rescore covers: the rubric's version and the agents that score with it (and their
    sample rates). A rescore asked for again before anything of it changed is the same job."""
    covered = ";".join(f"{agent_id}={rate!r}" for agent_id, rate in sorted(rates))
    digest = hashlib.sha256(covered.encode()).hexdigest()[:16]
    return f"v{rubric.version}:{digest}"


async def rescore_rubric(
    ctx: dict[str, Any], *, workspace_id: str, rubric_id: str, key: str | None = None
) -> int:
    """The job: re-score every (sampled) trace of the agents that score online with the rubric,
    with its current version, in batches. It stops as soon as what it covers (`key`, from
    `rescore_key`) changed: the rescore asked for since then covers the traces instead."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    ws, rid = uuid.UUID(workspace_id), uuid.UUID(rubric_id)
    judging = _OnlineJudging(db, settings)
    scored = 0
    after = ""
    try:
        while True:
            async with db.session() as session:
                rubric = await repository.get_rubric(session, ws, rid)
                scoring = await repository.agents_scoring_with(session, ws, rid)
                rates = dict(scoring)
                if rubric is None or not rates:
                    break
                if key is not None and rescore_key(rubric, scoring) != key:
                    log.info("rescore of rubric %s stopped: superseded by a later rescore", rid)
                    break
                keys = await repository.agent_keys(session, ws, list(rates))
                page = await repository.agent_trace_ids_after(
                    session, ws, keys, after, settings.online_batch_size
                )
                if not page:
                    break
                after = page[-1][0]
                ids = [trace_id for trace_id, agent_id in page if sampled(trace_id, rates[agent_id])]
                if ids:
                    scored += await score_with_rubric(session, ws, rubric, ids, judging)
    finally:
        await judging.aclose()
    return scored


# ------------------------------------------------------------------------------------------------
# The API's use cases


async def _require_rubric(session: AsyncSession, workspace_id: uuid.UUID, rubric_id: uuid.UUID) -> Rubric:
    rubric = await repository.get_rubric(session, workspace_id, rubric_id)
    if rubric is None:
        raise NotFoundError.for_resource("Rubric", rubric_id)
    return rubric


async def start_rescore(session: AsyncSession, principal: Principal, rubric_id: uuid.UUID) -> RescoreStarted:
    """`POST evaluations/rubrics/{id}/rescore`: a job re-scores the traces of the agents that score
    online with this rubric (400 when none does: there is nothing to re-score)."""
    assert principal.workspace_id is not None
    workspace_id = principal.workspace_id
    rubric = await _require_rubric(session, workspace_id, rubric_id)
    agents = await repository.agents_scoring_with(session, workspace_id, rubric.id)
    if not agents:
        raise BusinessRuleViolationError(
            f"No agent scores online with rubric {rubric.id}; set an agent's online_rubric_id first"
        )
    # One job per state of the rubric and its agents and UTC day: asking again (or a thousand
    # times) while nothing changed enqueues nothing more, and a job superseded by a change stops at
    # once. A new id per request let anyone with write:workspace fill the shared long-job queue
    # with full passes over the workspace's traces.
    key = rescore_key(rubric, agents)
    job_id = f"rescore:{rubric.id}:{key}:{utcnow().date().isoformat()}"
    # On the long-job queue: re-scoring months of traces may outlast a short job's timeout.
    defer_job(
        session,
        RESCORE_JOB,
        job_id,
        queue=SCAN_QUEUE,
        workspace_id=str(workspace_id),
        rubric_id=str(rubric.id),
        key=key,
    )
    started = RescoreStarted(
        job_id=job_id,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        agent_ids=[agent_id for agent_id, _ in agents],
        status="queued",
    )
    await record_audit(
        session,
        principal,
        workspace_id,
        action="rubric.rescore",
        resource_type="rubric",
        resource_id=rubric.id,
        after=started.model_dump(mode="json"),
    )
    return started


async def rubric_scores(
    session: AsyncSession, principal: Principal, rubric_id: uuid.UUID
) -> RubricScoresRead:
    """How many traces hold scores of each version of the rubric (a rescore's progress)."""
    assert principal.workspace_id is not None
    rubric = await _require_rubric(session, principal.workspace_id, rubric_id)
    by_version = await repository.scores_by_version(session, principal.workspace_id, rubric.id)
    return RubricScoresRead(
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        traces_scored=sum(by_version.values()),
        traces_at_current_version=by_version.get(rubric.version, 0),
        by_version={str(version): count for version, count in sorted(by_version.items())},
    )


# ------------------------------------------------------------------------------------------------
# Scans reuse online scores


class ReusingJudge:
    """A scan's judge that answers from the online `llm_judge` scores of the same rubric version
    and asks the gateway's judge (when there is one) only for what was never judged online."""

    def __init__(self, stored: dict[tuple[str, str], tuple[float, str]], fallback: Judge | None) -> None:
        self._stored = stored
        self._fallback = fallback
        self.reused = 0

    async def judge(self, dimension: engine.Dimension, trace: engine.Trace) -> JudgeScore | None:
        hit = self._stored.get((trace.trace_id, dimension.key))
        if hit is not None:
            self.reused += 1
            return JudgeScore(score=hit[0], reason=hit[1])
        return None if self._fallback is None else await self._fallback.judge(dimension, trace)


async def reusing_judge(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    rubric_id: uuid.UUID,
    traces: Sequence[engine.Trace],
    fallback: Judge | None,
) -> Judge | None:
    """The judge a scan over `traces` should use: `fallback` unless the rubric has `llm_judge`
    dimensions already judged online at its current version, then a `ReusingJudge`."""
    rubric = await repository.get_rubric(session, workspace_id, rubric_id)
    if rubric is None or not any(d.get("scorer", {}).get("type") == "llm_judge" for d in rubric.dimensions):
        return fallback
    stored = await repository.stored_judgments(
        session, workspace_id, rubric.id, rubric.version, [t.trace_id for t in traces]
    )
    return ReusingJudge(stored, fallback) if stored else fallback
