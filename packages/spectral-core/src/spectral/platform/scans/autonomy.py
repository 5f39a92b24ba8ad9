"""The supervisor under workspace autonomy `auto_apply`: after a scan, accept and apply the best
`recommend` change set, but only within every guardrail with confidence. Anything else waits for a
human."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.stats import guardrail_checks
from spectral.engine.types import ChangeKind, ValidationResult, Verdict
from spectral.platform.changesets import repository as changesets_repository
from spectral.platform.changesets import service as changesets_service
from spectral.platform.changesets.models import ChangeSet
from spectral.platform.identity.principal import Principal
from spectral.platform.scans import repository
from spectral.platform.shared.errors import DomainError
from spectral.platform.workspaces import repository as workspaces_repository
from spectral.platform.workspaces.schemas import Autonomy, AutonomyLevel, Guardrails
from spectral.platform.workspaces.service import workspace_guardrails

log = logging.getLogger("spectral.supervisor")

# How a change set's edits are named in `require_human_for`.
_KIND_NAMES = {
    ChangeKind.SET_MODEL: "model",
    ChangeKind.SET_PARAM: "params",
    ChangeKind.EDIT_TEMPLATE: "template",
}


def change_kinds(changeset: ChangeSet) -> set[str]:
    kinds = {_KIND_NAMES[ChangeKind(change["kind"])] for change in changeset.diff}
    return kinds | {changeset.strategy}


def guardrail_violations(changeset: ChangeSet, guardrails: Guardrails) -> list[str]:
    """Why the supervisor may not apply this change set alone (empty = it may), docs/scans.md
    "Auto-apply": a validated `recommend` whose objective CI lower bound reaches `min_holdout_gain`,
    whose cost and p95 latency changes are within their guardrails *with confidence* (the verdict's
    `GuardrailCheck` under the workspace's guardrails, `holds_unattended`: the CI's upper bound at
    most the limit) and whose kinds of change no one reserved for a human (`require_human_for`).
    The verdict may recommend a change whose guardrail only its estimate meets, for a human to weigh
    with the reason in front of them; with no human in the loop, that is not enough."""
    if changeset.verdict != Verdict.RECOMMEND or changeset.estimated or changeset.validation is None:
        return ["only a validated `recommend` change set can be applied automatically"]
    validation = ValidationResult.from_dict(changeset.validation)
    problems = []
    if validation.ci_low < guardrails.min_holdout_gain:
        problems.append(
            f"holdout CI lower bound {validation.ci_low:.4f} < min_holdout_gain {guardrails.min_holdout_gain}"
        )
    checks = guardrail_checks(
        validation.cost_interval,
        validation.latency_interval,
        max_cost_increase_pct=guardrails.max_cost_increase_pct,
        max_latency_increase_pct=guardrails.max_latency_increase_pct,
    )
    problems.extend(check.explain() for check in checks if not check.holds_unattended)
    human = change_kinds(changeset) & set(guardrails.require_human_for)
    if human:
        problems.append(f"require_human_for: {', '.join(sorted(human))}")
    return problems


def held_back(changeset: ChangeSet, autonomy: Autonomy) -> list[str]:
    """Why the supervisor leaves this change set to a human under the workspace's autonomy (empty:
    auto-apply could take it, and applies one per scan, the one with the best validated gain)."""
    level = (
        []
        if autonomy.level == AutonomyLevel.AUTO_APPLY
        else [f"autonomy is {autonomy.level.value}: the supervisor applies nothing itself"]
    )
    return level + guardrail_violations(changeset, autonomy.guardrails)


async def auto_apply_recommended(
    session: AsyncSession, scan_id: uuid.UUID, changeset_ids: Sequence[uuid.UUID]
) -> uuid.UUID | None:
    """Apply at most one change set per scan (the one with the largest validated gain): two
    change sets proposed against the same base would otherwise overwrite each other.

    Runs in the transaction that marks the scan succeeded, so nobody sees a finished scan whose
    auto-apply is still to come; a refusal rolls back only its own savepoint."""
    if not changeset_ids:
        return None
    scan = await repository.load_scan(session, scan_id)
    if scan is None:
        return None
    autonomy = await workspaces_repository.get_autonomy(session, scan.workspace_id)
    if autonomy is None or autonomy.level != AutonomyLevel.AUTO_APPLY:
        return None
    guardrails = await workspace_guardrails(session, scan.workspace_id)
    eligible = []
    for changeset_id in changeset_ids:
        changeset = await changesets_repository.get_changeset(session, scan.workspace_id, changeset_id)
        violations = guardrail_violations(changeset, guardrails)
        if not violations:
            eligible.append(changeset)
        else:
            log.info("supervisor holds back", extra={"changeset_id": str(changeset_id), "why": violations})
    if not eligible:
        return None
    best = max(eligible, key=lambda c: (c.expected_impact.get("ci_low") or 0.0, str(c.id)))
    supervisor = Principal.supervisor(scan.workspace_id, None)
    try:
        async with session.begin_nested():
            await changesets_service.accept(session, supervisor, scan.workspace_id, best.id)
            await changesets_service.apply(session, supervisor, scan.workspace_id, best.id)
    except DomainError:
        log.warning("supervisor could not apply", exc_info=True, extra={"changeset_id": str(best.id)})
        return None
    return best.id
