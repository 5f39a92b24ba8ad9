"""What a scan reads, gathered in one place: references checked at start, inputs loaded by the job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.pipeline import ScanInputs
from spectral.engine.types import Message, ReplayInput, ScanConfig, Strategy
from spectral.platform.agents import repository as agents_repository
from spectral.platform.agents import service as agents_service
from spectral.platform.evaluations import service as evaluations_service
from spectral.platform.inference.schemas import PromptWindow
from spectral.platform.samples import service as samples_service
from spectral.platform.scans import repository
from spectral.platform.scans.models import Scan
from spectral.platform.scans.schemas import ScanCreate
from spectral.platform.shared.errors import BusinessRuleViolationError, NotFoundError
from spectral.platform.traces import queries as trace_queries
from spectral.platform.workspaces.schemas import Guardrails
from spectral.platform.workspaces.service import workspace_guardrails

# How many LLM calls' prompts are read to tell which template prompts the call that answers.
ANSWER_PROMPT_SPANS = 500

# The default strategies: every one the deployment can run (reflective rewrites need a model).
OFFLINE_STRATEGIES = (Strategy.PLAYBOOK, Strategy.FEW_SHOT, Strategy.MODEL_ROUTING)
WITH_MODEL_STRATEGIES = (*OFFLINE_STRATEGIES, Strategy.LLM_REWRITE)


async def ensure_scan_references(session: AsyncSession, workspace_id: uuid.UUID, body: ScanCreate) -> None:
    """Every id of a scan request names a row of this workspace (else 404, as for any foreign id),
    and the pieces fit together (else 400; an agent without an active config is a precondition)."""
    agent = await agents_repository.get_agent(session, workspace_id, body.agent_id)
    if agent is None:
        raise NotFoundError.for_resource("Agent", body.agent_id)
    if agent.active_config is None:
        raise BusinessRuleViolationError(
            f"Agent {body.agent_id} has no active config version; create or promote one before scanning it"
        )
    await evaluations_service.load_rubric(session, workspace_id, body.rubric_id)
    _, objective_rubric = await evaluations_service.load_objective(session, workspace_id, body.objective_id)
    if objective_rubric != body.rubric_id:
        raise BusinessRuleViolationError(
            f"Objective {body.objective_id} is defined over rubric {objective_rubric}, not {body.rubric_id}"
        )
    if body.sample_set_id is not None:
        await samples_service.load_replay_inputs(session, workspace_id, body.sample_set_id)


def _trace_window(scan: Scan) -> tuple[datetime | None, datetime, int]:
    """The traces a scan reads: [start, end) of its window, at most `max_traces`. An open window
    ends when the scan was asked for, so a re-validation sees the same traces."""
    window = ScanCreate.model_validate(scan.parameters).window
    return window.start, window.end or scan.created_at, window.max_traces


async def analysed_window(
    session: AsyncSession, workspace_id: uuid.UUID, scan_id: uuid.UUID, agent_id: uuid.UUID
) -> PromptWindow:
    """The time window of the traces a scan of this agent analysed (404 for a scan of another
    workspace, 400 for a scan of another agent)."""
    scan = await repository.get_scan(session, workspace_id, scan_id)
    if scan.agent_id != agent_id:
        raise BusinessRuleViolationError(f"Scan {scan_id} is a scan of agent {scan.agent_id}, not {agent_id}")
    start, end, _ = _trace_window(scan)
    return PromptWindow(start=start, end=end)


def _scan_config(parameters: dict[str, Any], guardrails: Guardrails, *, with_model: bool) -> ScanConfig:
    default = WITH_MODEL_STRATEGIES if with_model else OFFLINE_STRATEGIES
    strategies = parameters.get("strategies") or [s.value for s in default]
    return ScanConfig.from_dict(
        {
            "seed": parameters.get("seed", 0),
            "holdout_fraction": parameters.get("holdout_fraction", 0.3),
            "strategies": strategies,
            "budget_usd": parameters.get("budget_usd", 0.0),
            "min_holdout_gain": guardrails.min_holdout_gain,
            "max_cost_increase_pct": guardrails.max_cost_increase_pct,
            "max_latency_increase_pct": guardrails.max_latency_increase_pct,
            "material_saving_pct": parameters.get("material_saving_pct"),
            "replay_budget_calls": parameters.get("replay_budget_calls"),
            "replay_budget_usd": parameters.get("replay_budget_usd"),
        }
    )


async def _answer_prompts(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, agent_slug: str, scan: Scan
) -> tuple[tuple[Message, ...], ...]:
    """The prompts of the calls that produced the answers of the window's latest traces: each
    trace's last LLM call (by start), read from its newest `ANSWER_PROMPT_SPANS` LLM spans."""
    start, end, _ = _trace_window(scan)
    spans = await trace_queries.llm_prompts(
        session,
        workspace_id,
        agent_id=agent_id,
        agent_slug=agent_slug,
        start=start,
        end=end,
        limit=ANSWER_PROMPT_SPANS,
    )
    last: dict[str, trace_queries.LlmSpanPrompt] = {}
    for span in spans:
        seen = last.get(span.trace_id)
        if seen is None or (span.start_time, span.span_id) > (seen.start_time, seen.span_id):
            last[span.trace_id] = span
    return tuple(
        tuple(Message.from_dict(m) for m in span.messages if isinstance(m, dict) and "role" in m)
        or (Message(role="user", content=span.input_text or ""),)
        for _, span in sorted(last.items())
    )


@dataclass(frozen=True, slots=True)
class LoadedScan:
    workspace_id: uuid.UUID
    inputs: ScanInputs
    agent_replay_url: str | None
    base_version_number: int | None


async def load_scan_inputs(
    session: AsyncSession, scan_id: uuid.UUID, *, with_model: bool = False
) -> LoadedScan:
    """Everything the engine needs for the scan; `with_model`: a proposer model is configured."""
    scan = await repository.load_scan(session, scan_id)
    if scan is None:
        raise NotFoundError.for_resource("Scan", scan_id)
    workspace_id = scan.workspace_id
    agent = await agents_repository.get_agent(session, workspace_id, scan.agent_id)
    if agent is None:
        raise NotFoundError.for_resource("Agent", scan.agent_id)
    start, end, max_traces = _trace_window(scan)
    samples: list[ReplayInput] = []
    if scan.sample_set_id is not None:
        samples = await samples_service.load_replay_inputs(session, workspace_id, scan.sample_set_id)
    objective, _ = await evaluations_service.load_objective(session, workspace_id, scan.objective_id)
    inputs = ScanInputs(
        baseline=await agents_service.active_config(session, workspace_id, agent.id),
        traces=await trace_queries.load_engine_traces(
            session,
            workspace_id,
            agent_id=agent.id,
            agent_slug=agent.slug,
            start=start,
            end=end,
            limit=max_traces,
        ),
        rubric=await evaluations_service.load_rubric(session, workspace_id, scan.rubric_id),
        objective=objective,
        config=_scan_config(
            scan.parameters, await workspace_guardrails(session, workspace_id), with_model=with_model
        ),
        samples=tuple(samples),
        answer_prompts=await _answer_prompts(session, workspace_id, agent.id, agent.slug, scan),
    )
    return LoadedScan(
        workspace_id=workspace_id,
        inputs=inputs,
        agent_replay_url=agent.replay_url,
        base_version_number=agent.active_version_number,
    )
