"""Rubric and objective use cases. Services flush, never commit.

Scans load what they run with through `load_rubric` (-> `engine.types.Rubric`) and
`load_objective` (-> `engine.types.Objective`); both are validated on every write, so a stored
rubric always compiles.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine import types as engine
from spectral.engine.errors import ScorerParamsError
from spectral.engine.scoring import CompiledRubric, validate_scorer_params
from spectral.platform.agents import repository as agents_repository
from spectral.platform.evaluations import repository
from spectral.platform.evaluations.drafting import MAX_EXAMPLES, blind_spots, draft_dimensions
from spectral.platform.evaluations.models import Objective, Rubric
from spectral.platform.evaluations.schemas import (
    Constraints,
    DimensionBody,
    DimensionEvidence,
    ObjectiveCreate,
    ObjectiveRead,
    ObjectiveUpdate,
    RubricCreate,
    RubricDraft,
    RubricGenerate,
    RubricRead,
    RubricSuggestions,
    RubricUpdate,
    SuggestionGroup,
    Weights,
)
from spectral.platform.evaluations.scoring_pool import ScoringPool
from spectral.platform.identity.principal import Principal
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.errors import (
    BusinessRuleViolationError,
    ConflictError,
    NotFoundError,
    ValidationFailedError,
)
from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.traces.queries import load_engine_traces
from spectral.platform.workspaces.audit import record_audit
from spectral.platform.workspaces.service import workspace_guardrails

Loc = list[str | int]


def workspace_of(principal: Principal) -> uuid.UUID:
    assert principal.workspace_id is not None, "evaluation routes are workspace-scoped"
    return principal.workspace_id


def _error(loc: Loc, msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def normalise_dimensions(dimensions: Sequence[DimensionBody], loc: Loc) -> list[dict[str, Any]]:
    """Validate every dimension (scorer params per type, unique keys) and return them in the
    engine's stored shape; all problems are reported at once, each with its pointer."""
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, dimension in enumerate(dimensions):
        if dimension.key in seen:
            errors.append(_error([*loc, index, "key"], f"duplicate dimension key {dimension.key!r}"))
        seen.add(dimension.key)
        try:
            validate_scorer_params(dimension.scorer.type, dimension.scorer.params)
        except ScorerParamsError as exc:
            errors.append(_error([*loc, index, "scorer", *exc.loc], exc.message, "value_error.scorer"))
    if errors:
        raise ValidationFailedError("The rubric's dimensions are not valid", errors=errors)
    return [
        engine.Dimension(
            key=d.key,
            scorer=engine.ScorerSpec(engine.ScorerType(d.scorer.type), d.scorer.params),
            name=d.name or d.key,
            description=d.description,
            weight=d.weight,
            threshold=d.threshold,
        ).to_dict()
        for d in dimensions
    ]


def _rubric_read(rubric: Rubric) -> RubricRead:
    return RubricRead(
        id=rubric.id,
        workspace_id=rubric.workspace_id,
        agent_id=rubric.agent_id,
        name=rubric.name,
        description=rubric.description,
        dimensions=list(rubric.dimensions),
        version=rubric.version,
        created_by=rubric.created_by,
        created_at=rubric.created_at,
        updated_at=rubric.updated_at,
    )


async def _require_rubric(session: AsyncSession, workspace_id: uuid.UUID, rubric_id: uuid.UUID) -> Rubric:
    rubric = await repository.get_rubric(session, workspace_id, rubric_id)
    if rubric is None:
        raise NotFoundError.for_resource("Rubric", rubric_id)
    return rubric


async def _flush_unique(session: AsyncSession, kind: str, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request took the name
        raise ConflictError(f"A {kind} named {name!r} already exists in this workspace") from exc


async def _check_agent(session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID | None) -> None:
    if agent_id is not None and await agents_repository.get_agent(session, workspace_id, agent_id) is None:
        raise ValidationFailedError(
            "The agent does not exist",
            errors=[_error(["body", "agent_id"], "no such agent in this workspace")],
        )


async def store_rubric(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    description: str | None,
    agent_id: uuid.UUID | None,
    dimensions: list[dict[str, Any]],
) -> RubricRead:
    """Insert an already-normalised rubric (create, or a generated draft being saved)."""
    workspace_id = workspace_of(principal)
    if await repository.rubric_name_taken(session, workspace_id, name):
        raise ConflictError(f"A rubric named {name!r} already exists in this workspace")
    rubric = Rubric(
        workspace_id=workspace_id,
        agent_id=agent_id,
        name=name,
        description=description,
        dimensions=dimensions,
        created_by=principal.actor,
    )
    session.add(rubric)
    await _flush_unique(session, "rubric", name)
    read = _rubric_read(rubric)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="rubric.create",
        resource_type="rubric",
        resource_id=rubric.id,
        after=read.model_dump(mode="json"),
    )
    return read


async def _validated_dimensions(
    scoring: ScoringPool, dimensions: Sequence[DimensionBody]
) -> list[dict[str, Any]]:
    # Compiling a rubric's patterns (RE2) and schemas is CPU work a tenant controls: off the loop.
    return await scoring.run(
        lambda _checkpoint: normalise_dimensions(dimensions, ["body", "dimensions"]),
        what="Checking the rubric's dimensions",
    )


async def create_rubric(
    session: AsyncSession, principal: Principal, body: RubricCreate, *, scoring: ScoringPool
) -> RubricRead:
    dimensions = await _validated_dimensions(scoring, body.dimensions)
    await _check_agent(session, workspace_of(principal), body.agent_id)
    return await store_rubric(
        session,
        principal,
        name=body.name,
        description=body.description,
        agent_id=body.agent_id,
        dimensions=dimensions,
    )


async def get_rubric(session: AsyncSession, principal: Principal, rubric_id: uuid.UUID) -> RubricRead:
    return _rubric_read(await _require_rubric(session, workspace_of(principal), rubric_id))


async def list_rubrics(
    session: AsyncSession, principal: Principal, page: PageParams, *, agent_id: uuid.UUID | None = None
) -> Page[RubricRead]:
    rows, total = await repository.list_rubrics(session, workspace_of(principal), page, agent_id=agent_id)
    return Page.of([_rubric_read(row) for row in rows], total=total, params=page)


async def update_rubric(
    session: AsyncSession,
    principal: Principal,
    rubric_id: uuid.UUID,
    body: RubricUpdate,
    *,
    scoring: ScoringPool,
) -> RubricRead:
    workspace_id = workspace_of(principal)
    rubric = await _require_rubric(session, workspace_id, rubric_id)
    before = _rubric_read(rubric).model_dump(mode="json")
    changes = body.model_dump(exclude_unset=True)
    if body.name is not None and body.name != rubric.name:
        if await repository.rubric_name_taken(session, workspace_id, body.name, except_id=rubric.id):
            raise ConflictError(f"A rubric named {body.name!r} already exists in this workspace")
        rubric.name = body.name
    if "description" in changes:
        rubric.description = body.description
    if body.dimensions is not None:
        dimensions = await _validated_dimensions(scoring, body.dimensions)
        keys = {d["key"] for d in dimensions}
        for objective in await repository.objectives_of_rubric(session, workspace_id, rubric.id):
            needed = sorted(set(objective.constraints.get("min_dimension") or {}) - keys)
            if needed:
                raise BusinessRuleViolationError(
                    f"Objective {objective.name!r} constrains dimension(s) {', '.join(needed)} of this rubric; "
                    "change the objective first"
                )
        if dimensions != rubric.dimensions:
            # Scores name the version they were made with; `rescore` brings them up to date.
            rubric.version += 1
        rubric.dimensions = dimensions
    rubric.updated_at = utcnow()
    await _flush_unique(session, "rubric", rubric.name)
    read = _rubric_read(rubric)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="rubric.update",
        resource_type="rubric",
        resource_id=rubric.id,
        before=before,
        after=read.model_dump(mode="json"),
    )
    return read


async def delete_rubric(session: AsyncSession, principal: Principal, rubric_id: uuid.UUID) -> None:
    workspace_id = workspace_of(principal)
    rubric = await _require_rubric(session, workspace_id, rubric_id)
    users = await repository.objectives_of_rubric(session, workspace_id, rubric.id)
    if users:
        names = ", ".join(repr(o.name) for o in users)
        raise ConflictError(f"Rubric {rubric_id} is used by objective(s) {names}; delete or move them first")
    online = await repository.agents_scoring_with(session, workspace_id, rubric.id)
    if online:
        raise ConflictError(
            f"Rubric {rubric_id} scores {len(online)} agent(s) online; clear their online_rubric_id first"
        )
    before = _rubric_read(rubric).model_dump(mode="json")
    await session.delete(rubric)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="rubric.delete",
        resource_type="rubric",
        resource_id=rubric_id,
        before=before,
    )


async def load_rubric(session: AsyncSession, workspace_id: uuid.UUID, rubric_id: uuid.UUID) -> engine.Rubric:
    rubric = await _require_rubric(session, workspace_id, rubric_id)
    return engine.Rubric.from_dict({"name": rubric.name, "dimensions": rubric.dimensions})


async def generate_rubric(
    session: AsyncSession, principal: Principal, body: RubricGenerate, *, scoring: ScoringPool
) -> RubricDraft:
    """Draft a rubric from the agent's traces (no LLM, on a scoring thread); `save` stores it."""
    workspace_id = workspace_of(principal)
    agent = await agents_repository.get_agent(session, workspace_id, body.agent_id)
    if agent is None:
        raise NotFoundError.for_resource("Agent", body.agent_id)
    traces = await load_engine_traces(
        session, workspace_id, agent_id=agent.id, agent_slug=agent.slug, limit=body.limit
    )
    if not traces:
        raise BusinessRuleViolationError(
            f"Agent {agent.slug!r} has no traces yet; send traces before generating a rubric"
        )
    guardrails = await workspace_guardrails(session, workspace_id)
    drafts = await scoring.run(
        lambda checkpoint: draft_dimensions(
            traces,
            checkpoint,
            latency_allowance_pct=guardrails.max_latency_increase_pct,
            cost_allowance_pct=guardrails.max_cost_increase_pct,
        ),
        what="Drafting a rubric",
        hint="read fewer traces (limit) or try again later",
    )
    name = body.name or f"{agent.name} (generated)"
    dimensions = [draft.dimension.to_dict() for draft in drafts]
    stored = None
    if body.save:
        stored = await store_rubric(
            session,
            principal,
            name=name,
            description=f"Drafted from {len(traces)} trace(s) of agent {agent.slug}",
            agent_id=agent.id,
            dimensions=dimensions,
        )
    return RubricDraft(
        name=name,
        agent_id=agent.id,
        traces_analysed=len(traces),
        dimensions=dimensions,
        evidence=[
            DimensionEvidence(key=draft.dimension.key, reason=draft.reason, observed=draft.observed)
            for draft in drafts
        ],
        rubric=stored,
    )


async def rubric_suggestions(
    session: AsyncSession,
    principal: Principal,
    rubric_id: uuid.UUID,
    *,
    agent_id: uuid.UUID | None,
    limit: int,
    scoring: ScoringPool,
) -> RubricSuggestions:
    """Blind spots of the rubric on an agent's traces (the named agent, else the rubric's own),
    or on the workspace's traces when the rubric has no agent and none is named; scored on a
    scoring thread within its time limit."""
    workspace_id = workspace_of(principal)
    rubric = await _require_rubric(session, workspace_id, rubric_id)
    target = agent_id or rubric.agent_id
    agent = None
    if target is not None:
        agent = await agents_repository.get_agent(session, workspace_id, target)
        if agent is None:
            raise NotFoundError.for_resource("Agent", target)
    traces = await load_engine_traces(
        session,
        workspace_id,
        agent_id=None if agent is None else agent.id,
        agent_slug=None if agent is None else agent.slug,
        limit=limit,
    )
    loaded = engine.Rubric.from_dict({"name": rubric.name, "dimensions": rubric.dimensions})
    try:
        # Compiled here, not per trace: a rubric stored before patterns ran on RE2 may not compile.
        compiled = CompiledRubric.compile(loaded)
    except ScorerParamsError as exc:
        raise BusinessRuleViolationError(
            f"Rubric {rubric_id} cannot be scored ({exc}); update its dimensions first"
        ) from None
    count, groups = await scoring.run(
        lambda checkpoint: blind_spots(compiled, traces, checkpoint),
        what="Scoring the rubric's blind spots",
        hint="read fewer traces (?limit=) or try again later",
    )
    return RubricSuggestions(
        rubric_id=rubric.id,
        agent_id=None if agent is None else agent.id,
        traces_analysed=len(traces),
        blind_spots=count,
        suggestions=[
            SuggestionGroup(
                signature=dict(group.signature),
                trace_count=len(group.trace_ids),
                example_trace_ids=list(group.trace_ids[:MAX_EXAMPLES]),
                reason=group.reason,
                proposed_dimension=None if group.proposed is None else group.proposed.to_dict(),
            )
            for group in groups
        ],
    )


# --- objectives ----------------------------------------------------------------------------------


def _objective_read(objective: Objective) -> ObjectiveRead:
    return ObjectiveRead(
        id=objective.id,
        workspace_id=objective.workspace_id,
        rubric_id=objective.rubric_id,
        name=objective.name,
        description=objective.description,
        weights=dict(objective.weights),
        constraints=dict(objective.constraints),
        created_by=objective.created_by,
        created_at=objective.created_at,
        updated_at=objective.updated_at,
    )


async def _require_objective(
    session: AsyncSession, workspace_id: uuid.UUID, objective_id: uuid.UUID
) -> Objective:
    objective = await repository.get_objective(session, workspace_id, objective_id)
    if objective is None:
        raise NotFoundError.for_resource("Objective", objective_id)
    return objective


async def _checked_rubric(
    session: AsyncSession, workspace_id: uuid.UUID, rubric_id: uuid.UUID, constraints: Constraints
) -> None:
    """The rubric exists in this workspace and has every dimension `min_dimension` names."""
    rubric = await repository.get_rubric(session, workspace_id, rubric_id)
    if rubric is None:
        raise ValidationFailedError(
            "The rubric does not exist",
            errors=[_error(["body", "rubric_id"], "no such rubric in this workspace")],
        )
    keys = {d["key"] for d in rubric.dimensions}
    errors = [
        _error(
            ["body", "constraints", "min_dimension", key],
            f"rubric {rubric.name!r} has no dimension {key!r}; it has {', '.join(sorted(keys))}",
        )
        for key in sorted(constraints.min_dimension)
        if key not in keys
    ]
    if errors:
        raise ValidationFailedError("min_dimension names dimensions the rubric does not have", errors=errors)


def _stored_weights(weights: Weights) -> dict[str, float]:
    return weights.model_dump()


def _stored_constraints(constraints: Constraints) -> dict[str, Any]:
    return constraints.model_dump()


async def create_objective(
    session: AsyncSession, principal: Principal, body: ObjectiveCreate
) -> ObjectiveRead:
    workspace_id = workspace_of(principal)
    await _checked_rubric(session, workspace_id, body.rubric_id, body.constraints)
    if await repository.objective_name_taken(session, workspace_id, body.name):
        raise ConflictError(f"An objective named {body.name!r} already exists in this workspace")
    objective = Objective(
        workspace_id=workspace_id,
        rubric_id=body.rubric_id,
        name=body.name,
        description=body.description,
        weights=_stored_weights(body.weights),
        constraints=_stored_constraints(body.constraints),
        created_by=principal.actor,
    )
    session.add(objective)
    await _flush_unique(session, "objective", body.name)
    read = _objective_read(objective)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="objective.create",
        resource_type="objective",
        resource_id=objective.id,
        after=read.model_dump(mode="json"),
    )
    return read


async def get_objective(
    session: AsyncSession, principal: Principal, objective_id: uuid.UUID
) -> ObjectiveRead:
    return _objective_read(await _require_objective(session, workspace_of(principal), objective_id))


async def list_objectives(
    session: AsyncSession, principal: Principal, page: PageParams, *, rubric_id: uuid.UUID | None = None
) -> Page[ObjectiveRead]:
    rows, total = await repository.list_objectives(
        session, workspace_of(principal), page, rubric_id=rubric_id
    )
    return Page.of([_objective_read(row) for row in rows], total=total, params=page)


async def update_objective(
    session: AsyncSession, principal: Principal, objective_id: uuid.UUID, body: ObjectiveUpdate
) -> ObjectiveRead:
    workspace_id = workspace_of(principal)
    objective = await _require_objective(session, workspace_id, objective_id)
    before = _objective_read(objective).model_dump(mode="json")
    changes = body.model_dump(exclude_unset=True)
    rubric_id = body.rubric_id or objective.rubric_id
    constraints = body.constraints or Constraints.model_validate(objective.constraints)
    await _checked_rubric(session, workspace_id, rubric_id, constraints)
    if body.name is not None and body.name != objective.name:
        if await repository.objective_name_taken(session, workspace_id, body.name, except_id=objective.id):
            raise ConflictError(f"An objective named {body.name!r} already exists in this workspace")
        objective.name = body.name
    if "description" in changes:
        objective.description = body.description
    objective.rubric_id = rubric_id
    if body.weights is not None:
        objective.weights = _stored_weights(body.weights)
    objective.constraints = _stored_constraints(constraints)
    objective.updated_at = utcnow()
    await _flush_unique(session, "objective", objective.name)
    read = _objective_read(objective)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="objective.update",
        resource_type="objective",
        resource_id=objective.id,
        before=before,
        after=read.model_dump(mode="json"),
    )
    return read


async def delete_objective(session: AsyncSession, principal: Principal, objective_id: uuid.UUID) -> None:
    workspace_id = workspace_of(principal)
    objective = await _require_objective(session, workspace_id, objective_id)
    before = _objective_read(objective).model_dump(mode="json")
    await session.delete(objective)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="objective.delete",
        resource_type="objective",
        resource_id=objective_id,
        before=before,
    )


async def load_objective(
    session: AsyncSession, workspace_id: uuid.UUID, objective_id: uuid.UUID
) -> tuple[engine.Objective, uuid.UUID]:
    """The objective as the engine's `Objective`, and the id of the rubric it is defined over."""
    objective = await _require_objective(session, workspace_id, objective_id)
    loaded = engine.Objective.from_dict(
        {"name": objective.name, "weights": objective.weights, "constraints": objective.constraints}
    )
    return loaded, objective.rubric_id
