"""Proposers: candidate config changes for the clusters a scan found (docs/scans.md phase 4).

The deterministic strategies (`playbook`, `few_shot`, `model_routing`) run offline;
`llm_rewrite` needs a `Generator` and is async (`llm_rewrite.propose`).
"""

from collections.abc import Sequence

from spectral.engine.proposers import few_shot, model_routing, playbook
from spectral.engine.proposers.base import Proposal, ProposalContext
from spectral.engine.types import Strategy

_OFFLINE = {
    Strategy.PLAYBOOK: playbook.propose,
    Strategy.FEW_SHOT: few_shot.propose,
    Strategy.MODEL_ROUTING: model_routing.propose,
}


def propose_offline(context: ProposalContext, strategies: Sequence[Strategy]) -> list[Proposal]:
    """Proposals of the enabled deterministic strategies, in strategy order, duplicates dropped."""
    proposals: dict[str, Proposal] = {}
    for strategy in strategies:
        propose = _OFFLINE.get(strategy)
        if propose is None:
            continue
        for proposal in propose(context):
            proposals.setdefault(proposal.candidate.candidate_id, proposal)
    return list(proposals.values())


__all__ = ["Proposal", "ProposalContext", "propose_offline"]
