"""Few-shot demonstrations: show the agent good answers to requests like the ones it fails.

For a cluster, the candidates are analysis traces that passed every dimension with a high objective
(the top quarter of passing traces); the k most similar to the cluster's inputs (TF-IDF cosine to
the centroid of the cluster's inputs), one per distinct input, become demonstrations appended to the
instruction template — bootstrap-style selection, as in DSPy's BootstrapFewShot, from the agent's
own successful runs.
"""

from __future__ import annotations

import numpy as np

from spectral.engine.clustering import TfidfSpace, text_terms
from spectral.engine.proposers.base import (
    Edit,
    EditKind,
    Proposal,
    ProposalContext,
    make_proposal,
)
from spectral.engine.types import CauseCategory, Cluster, Strategy

_DEMO_CHARS = 600
_VOCABULARY = 1024
# Causes a demonstration can teach; errors, timeouts and cost are not shown by examples.
_TEACHABLE = frozenset(
    {CauseCategory.FORMAT, CauseCategory.MISMATCH, CauseCategory.REFUSAL, CauseCategory.OTHER}
)


def propose(context: ProposalContext) -> list[Proposal]:
    pool = _good_rows(context)
    if not pool:
        return []
    proposals: list[Proposal] = []
    for cluster in context.clusters:
        if cluster.cause not in _TEACHABLE:
            continue
        proposal = _propose_for(context, cluster, pool)
        if proposal is not None:
            proposals.append(proposal)
    return proposals


def _good_rows(context: ProposalContext) -> list[int]:
    """Rows of passing traces in the top quarter of objective among passing traces."""
    table = context.table
    passing = np.flatnonzero(~table.failed & np.isfinite(table.objective))
    if passing.size == 0:
        return []
    cutoff = float(np.percentile(table.objective[passing], 75))
    return [int(row) for row in passing if table.objective[row] >= cutoff]


def _propose_for(context: ProposalContext, cluster: Cluster, pool: list[int]) -> Proposal | None:
    cluster_rows = context.rows(cluster.trace_ids)
    if not cluster_rows:
        return None
    cluster_docs = [text_terms(context.traces[row].input_text) for row in cluster_rows]
    pool_docs = [text_terms(context.traces[row].input_text) for row in pool]
    space = TfidfSpace(cluster_docs + pool_docs, [1] * (len(cluster_docs) + len(pool_docs)), _VOCABULARY)
    if not space.terms:
        return None
    centroid = space.vectors(cluster_docs).mean(axis=0)
    similarity = space.vectors(pool_docs) @ centroid
    ranked = sorted(
        range(len(pool)), key=lambda i: (-round(float(similarity[i]), 6), context.traces[pool[i]].trace_id)
    )
    demos: list[tuple[str, str]] = []
    seen_inputs: set[str] = set()
    for i in ranked:
        trace = context.traces[pool[i]]
        text = trace.input_text.strip()
        if not text or text in seen_inputs or not trace.output.strip():
            continue
        seen_inputs.add(text)
        demos.append((text[:_DEMO_CHARS], trace.output.strip()[:_DEMO_CHARS]))
        if len(demos) == context.config.few_shot_k:
            break
    if not demos:
        return None
    block = "Examples of good replies:\n" + "\n\n".join(
        f"Request: {request}\nReply: {reply}" for request, reply in demos
    )
    rationale = (
        f"{cluster.size} traces ({cluster.share:.1%} of traffic) fail as '{cluster.label}'. The agent "
        f"answered {len(demos)} similar requests well; showing those replies as demonstrations "
        f"gives it a concrete model of the expected answer."
    )
    edit = Edit(EditKind.APPEND_TO_TEMPLATE, block, context.instruction_template)
    return make_proposal(context.baseline, Strategy.FEW_SHOT, [edit], rationale, [cluster.cluster_id])
