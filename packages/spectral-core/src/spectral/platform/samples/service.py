"""Sample set use cases. Services flush, never commit.

An item's input is unique within its set by content hash (`input_hash`): adding an input twice
stores it once, so batches, imports and `from-traces` can be re-run safely. Scans read a set
through `load_replay_inputs` (-> `engine.types.ReplayInput` values).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.types import ReplayInput, input_from_plain, input_to_plain
from spectral.platform.agents import repository as agents_repository
from spectral.platform.identity.principal import Principal
from spectral.platform.samples import repository
from spectral.platform.samples.jsonl import parse_jsonl
from spectral.platform.samples.models import SampleItem, SampleSet
from spectral.platform.samples.schemas import (
    FromTracesResult,
    ImportResult,
    ItemsAdded,
    SampleItemCreate,
    SampleItemRead,
    SampleItemsCreate,
    SampleSetCreate,
    SampleSetRead,
    SampleSetUpdate,
    SamplesFromTraces,
)
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.errors import ConflictError, NotFoundError, ValidationFailedError
from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.traces import repository as traces_repository
from spectral.platform.traces.queries import to_engine_trace
from spectral.platform.traces.service import agent_match
from spectral.platform.workspaces.audit import record_audit


def workspace_of(principal: Principal) -> uuid.UUID:
    assert principal.workspace_id is not None, "sample routes are workspace-scoped"
    return principal.workspace_id


def input_hash(value: str | list[dict[str, Any]]) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _set_read(sample_set: SampleSet, item_count: int) -> SampleSetRead:
    return SampleSetRead(
        id=sample_set.id,
        workspace_id=sample_set.workspace_id,
        agent_id=sample_set.agent_id,
        name=sample_set.name,
        description=sample_set.description,
        item_count=item_count,
        created_by=sample_set.created_by,
        created_at=sample_set.created_at,
        updated_at=sample_set.updated_at,
    )


def _item_read(item: SampleItem) -> SampleItemRead:
    return SampleItemRead(
        id=item.id,
        sample_set_id=item.sample_set_id,
        input=item.input,
        expected_output=item.expected_output,
        metadata=dict(item.metadata_),
        source_trace_id=item.source_trace_id,
        created_at=item.created_at,
    )


async def _require_set(
    session: AsyncSession, workspace_id: uuid.UUID, set_id: uuid.UUID, *, lock: bool = False
) -> SampleSet:
    load = repository.lock_set if lock else repository.get_set
    sample_set = await load(session, workspace_id, set_id)
    if sample_set is None:
        raise NotFoundError.for_resource("Sample set", set_id)
    return sample_set


async def _count(session: AsyncSession, sample_set: SampleSet) -> int:
    counts = await repository.item_counts(session, sample_set.workspace_id, [sample_set.id])
    return counts.get(sample_set.id, 0)


async def _check_agent(session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID | None) -> None:
    if agent_id is not None and await agents_repository.get_agent(session, workspace_id, agent_id) is None:
        raise ValidationFailedError(
            "The agent does not exist",
            errors=[
                {"loc": ["body", "agent_id"], "msg": "no such agent in this workspace", "type": "value_error"}
            ],
        )


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request took the name
        raise ConflictError(f"A sample set named {name!r} already exists in this workspace") from exc


async def create_set(session: AsyncSession, principal: Principal, body: SampleSetCreate) -> SampleSetRead:
    workspace_id = workspace_of(principal)
    await _check_agent(session, workspace_id, body.agent_id)
    if await repository.name_taken(session, workspace_id, body.name):
        raise ConflictError(f"A sample set named {body.name!r} already exists in this workspace")
    sample_set = SampleSet(
        workspace_id=workspace_id,
        agent_id=body.agent_id,
        name=body.name,
        description=body.description,
        created_by=principal.actor,
    )
    session.add(sample_set)
    await _flush_unique(session, body.name)
    read = _set_read(sample_set, 0)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="sample_set.create",
        resource_type="sample_set",
        resource_id=sample_set.id,
        after=read.model_dump(mode="json"),
    )
    return read


async def get_set(session: AsyncSession, principal: Principal, set_id: uuid.UUID) -> SampleSetRead:
    sample_set = await _require_set(session, workspace_of(principal), set_id)
    return _set_read(sample_set, await _count(session, sample_set))


async def list_sets(
    session: AsyncSession, principal: Principal, page: PageParams, *, agent_id: uuid.UUID | None = None
) -> Page[SampleSetRead]:
    workspace_id = workspace_of(principal)
    rows, total = await repository.list_sets(session, workspace_id, page, agent_id=agent_id)
    counts = await repository.item_counts(session, workspace_id, [row.id for row in rows])
    return Page.of([_set_read(row, counts.get(row.id, 0)) for row in rows], total=total, params=page)


async def update_set(
    session: AsyncSession, principal: Principal, set_id: uuid.UUID, body: SampleSetUpdate
) -> SampleSetRead:
    workspace_id = workspace_of(principal)
    sample_set = await _require_set(session, workspace_id, set_id, lock=True)
    count = await _count(session, sample_set)
    before = _set_read(sample_set, count).model_dump(mode="json")
    changes = body.model_dump(exclude_unset=True)
    if body.name is not None and body.name != sample_set.name:
        if await repository.name_taken(session, workspace_id, body.name, except_id=sample_set.id):
            raise ConflictError(f"A sample set named {body.name!r} already exists in this workspace")
        sample_set.name = body.name
    if "description" in changes:
        sample_set.description = body.description
    if "agent_id" in changes:
        await _check_agent(session, workspace_id, body.agent_id)
        sample_set.agent_id = body.agent_id
    sample_set.updated_at = utcnow()
    await _flush_unique(session, sample_set.name)
    read = _set_read(sample_set, count)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="sample_set.update",
        resource_type="sample_set",
        resource_id=sample_set.id,
        before=before,
        after=read.model_dump(mode="json"),
    )
    return read


async def delete_set(session: AsyncSession, principal: Principal, set_id: uuid.UUID) -> None:
    workspace_id = workspace_of(principal)
    sample_set = await _require_set(session, workspace_id, set_id, lock=True)
    before = _set_read(sample_set, await _count(session, sample_set)).model_dump(mode="json")
    await session.delete(sample_set)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="sample_set.delete",
        resource_type="sample_set",
        resource_id=set_id,
        before=before,
    )


async def _add(
    session: AsyncSession, sample_set: SampleSet, items: Sequence[SampleItemCreate]
) -> tuple[list[SampleItem], int]:
    """Store the items whose input is new to the set; (stored rows, duplicates skipped)."""
    hashed = [(input_hash(item.plain_input()), item) for item in items]
    seen = await repository.existing_hashes(
        session, sample_set.workspace_id, sample_set.id, {h for h, _ in hashed}
    )
    rows: list[SampleItem] = []
    for digest, item in hashed:
        if digest in seen:
            continue
        seen.add(digest)
        rows.append(
            SampleItem(
                workspace_id=sample_set.workspace_id,
                sample_set_id=sample_set.id,
                input=item.plain_input(),
                input_hash=digest,
                expected_output=item.expected_output,
                metadata_=item.metadata,
                source_trace_id=item.source_trace_id,
            )
        )
    session.add_all(rows)
    sample_set.updated_at = utcnow()
    await session.flush()
    return rows, len(items) - len(rows)


async def add_items(
    session: AsyncSession, principal: Principal, set_id: uuid.UUID, body: SampleItemsCreate
) -> ItemsAdded:
    workspace_id = workspace_of(principal)
    sample_set = await _require_set(session, workspace_id, set_id, lock=True)
    rows, duplicates = await _add(session, sample_set, body.items)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="sample_set.items.add",
        resource_type="sample_set",
        resource_id=sample_set.id,
        after={"added": len(rows), "duplicates": duplicates},
    )
    return ItemsAdded(added=len(rows), duplicates=duplicates, items=[_item_read(row) for row in rows])


async def import_jsonl(
    session: AsyncSession, principal: Principal, set_id: uuid.UUID, body: bytes
) -> ImportResult:
    """All or nothing: any bad line fails the import, with every bad line reported."""
    workspace_id = workspace_of(principal)
    sample_set = await _require_set(session, workspace_id, set_id, lock=True)
    items, problems = parse_jsonl(body)
    if problems:
        bad_lines = sorted({p["line"] for p in problems if p["line"] is not None})
        detail = (
            f"{len(bad_lines)} line(s) are invalid; nothing was imported" if bad_lines else problems[0]["msg"]
        )
        raise ValidationFailedError(detail, errors=problems)
    if not items:
        raise ValidationFailedError(
            "The file holds no items",
            errors=[{"loc": ["body"], "line": None, "msg": "no JSON lines found", "type": "empty"}],
        )
    rows, duplicates = await _add(session, sample_set, items)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="sample_set.import",
        resource_type="sample_set",
        resource_id=sample_set.id,
        after={"lines": len(items), "added": len(rows), "duplicates": duplicates},
    )
    return ImportResult(lines=len(items), added=len(rows), duplicates=duplicates)


async def from_traces(
    session: AsyncSession, principal: Principal, body: SamplesFromTraces
) -> FromTracesResult:
    """A new set holding the inputs (and, by default, the outputs as expected outputs) of the
    traces the filter selects; traces without an input are skipped, repeated inputs stored once."""
    workspace_id = workspace_of(principal)
    query = body.filter
    match = await agent_match(session, workspace_id, query.agent) if query.agent is not None else None
    rows = await traces_repository.traces_in_window(
        session,
        workspace_id,
        traces_repository.TraceFilter(
            agent=match,
            start=query.start,
            end=query.end,
            status=query.status,
            model=query.model,
            has_feedback=query.has_feedback,
            min_score=query.min_score,
            max_score=query.max_score,
            search=query.q,
        ),
        limit=body.limit,
    )
    items: list[SampleItemCreate] = []
    skipped = 0
    for row in rows:
        trace = to_engine_trace(row, [], [])
        try:
            items.append(
                SampleItemCreate.model_validate(
                    {
                        "input": input_to_plain(trace.input),
                        "expected_output": trace.output if body.include_output and trace.output else None,
                        "metadata": {"model": trace.model} if trace.model else {},
                        "source_trace_id": trace.trace_id,
                    }
                )
            )
        except ValidationError:  # no input, or one too large to be a sample
            skipped += 1
    agent_id = body.agent_id or (match.agent_id if match is not None else None)
    created = await create_set(
        session, principal, SampleSetCreate(name=body.name, description=body.description, agent_id=agent_id)
    )
    sample_set = await _require_set(session, workspace_id, created.id, lock=True)
    stored, duplicates = await _add(session, sample_set, items) if items else ([], 0)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="sample_set.from_traces",
        resource_type="sample_set",
        resource_id=sample_set.id,
        after={"traces_read": len(rows), "added": len(stored), "duplicates": duplicates, "skipped": skipped},
    )
    return FromTracesResult(
        sample_set=_set_read(sample_set, len(stored)),
        traces_read=len(rows),
        added=len(stored),
        duplicates=duplicates,
        skipped=skipped,
    )


async def list_items(
    session: AsyncSession, principal: Principal, set_id: uuid.UUID, page: PageParams
) -> Page[SampleItemRead]:
    workspace_id = workspace_of(principal)
    await _require_set(session, workspace_id, set_id)
    rows, total = await repository.list_items(session, workspace_id, set_id, page)
    return Page.of([_item_read(row) for row in rows], total=total, params=page)


async def delete_item(
    session: AsyncSession, principal: Principal, set_id: uuid.UUID, item_id: uuid.UUID
) -> None:
    workspace_id = workspace_of(principal)
    sample_set = await _require_set(session, workspace_id, set_id, lock=True)
    item = await repository.get_item(session, workspace_id, set_id, item_id)
    if item is None:
        raise NotFoundError(f"Item {item_id} of sample set {set_id} not found")
    before = _item_read(item).model_dump(mode="json")
    await session.delete(item)
    sample_set.updated_at = utcnow()
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="sample_set.items.delete",
        resource_type="sample_set",
        resource_id=set_id,
        before=before,
    )


async def load_replay_inputs(
    session: AsyncSession, workspace_id: uuid.UUID, set_id: uuid.UUID
) -> list[ReplayInput]:
    """Every item of the set as the engine's `ReplayInput` (`sample_id` = the item id), in insertion order."""
    await _require_set(session, workspace_id, set_id)
    return [
        ReplayInput(
            input=input_from_plain(item.input),
            sample_id=str(item.id),
            expected_output=item.expected_output,
            metadata=dict(item.metadata_),
        )
        for item in await repository.all_items(session, workspace_id, set_id)
    ]
