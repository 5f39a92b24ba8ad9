"""Reflective rewrite: an LLM reads the cluster's failing exemplars with the scorers' feedback and
rewrites the instruction template (GEPA's reflective mutation). Only with a `Generator`.

Several rewrites are requested per cluster; all that differ from the current text become
candidates and the search keeps the best. When the generator raises `BudgetExhausted`, rewriting
stops: the proposals made so far are returned and `budget_exhausted` tells the caller to say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from spectral.engine.errors import BudgetExhausted
from spectral.engine.proposers.base import (
    Edit,
    EditKind,
    Proposal,
    ProposalContext,
    make_proposal,
)
from spectral.engine.protocols import Generator
from spectral.engine.types import Cluster, Strategy

REWRITES_PER_CLUSTER = 3
_EXEMPLARS = 4
_CLIP = 400

_SYSTEM = (
    "You improve the instructions of an LLM agent. You receive its current instruction template and "
    "examples of requests it handled badly, with the reason each was judged a failure. Reply with the "
    "complete improved template only: no commentary, no code fences. Keep every {{placeholder}} exactly."
)


@dataclass(frozen=True, slots=True)
class RewriteRun:
    proposals: tuple[Proposal, ...]
    budget_exhausted: bool


async def propose(context: ProposalContext, generator: Generator) -> RewriteRun:
    proposals: list[Proposal] = []
    template_key = context.instruction_template
    current = context.baseline.templates.get(template_key, "")
    for cluster in context.clusters:
        try:
            rewrites = await generator.generate(
                reflection_prompt(context, cluster, current),
                system=_SYSTEM,
                n=REWRITES_PER_CLUSTER,
                max_tokens=2048,
                temperature=0.7,
            )
        except BudgetExhausted:
            return RewriteRun(tuple(proposals), budget_exhausted=True)
        for text in dict.fromkeys(_clean(rewrite) for rewrite in rewrites):
            if not text or text == current.strip():
                continue
            proposal = make_proposal(
                context.baseline,
                Strategy.LLM_REWRITE,
                [Edit(EditKind.REPLACE_TEMPLATE, text, template_key)],
                f"A reflective rewrite of the '{template_key}' template from {cluster.size} failing traces of "
                f"'{cluster.label}' and the scorers' reasons for failing them.",
                [cluster.cluster_id],
            )
            if proposal is not None:
                proposals.append(proposal)
    return RewriteRun(tuple(proposals), budget_exhausted=False)


def reflection_prompt(context: ProposalContext, cluster: Cluster, template: str) -> str:
    """The current template, then each exemplar's request, reply and failing scorers' reasons."""
    keys = context.table.dimension_keys
    failed = context.table.failed_cells
    sections = [f"Current template:\n{template or '(empty)'}", f"Failure pattern: {cluster.label}"]
    for row in context.rows(cluster.exemplar_trace_ids[:_EXEMPLARS]):
        trace = context.traces[row]
        reasons = [
            f"{key}: {context.table.reasons[row][column]}"
            for column, key in enumerate(keys)
            if failed[row, column]
        ]
        sections.append(
            f"Request: {trace.input_text[:_CLIP]}\nReply: {trace.output[:_CLIP]}\n"
            f"Judged a failure because: {'; '.join(reasons) or ', '.join(context.table.violations[row])}"
        )
    sections.append(
        "Rewrite the template so the agent avoids these failures without breaking other requests."
    )
    return "\n\n".join(sections)


def _clean(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        stripped = stripped.strip("`").split("\n", 1)[-1].strip()
    return stripped
