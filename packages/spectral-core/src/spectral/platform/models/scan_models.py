"""What a scan gets from the gateway: a judge and a generator bound to its workspace, its id and
one budget they share (starting from what the ledger says the scan already spent).

    gateway = ModelGateway.from_settings(db, settings)      # None: no provider, the scan runs offline
    models = await scan_models(gateway, workspace_id=..., scan_id=..., budget_usd=...) if gateway else None
    run_scan(..., judge=bridged(models.judge, loop) if models else None, generator=...)
    await gateway.aclose()

The gateway's HTTP client, lock and budget belong to the loop that built them: an engine running on
a thread of its own calls them through `scans.engine_thread.bridged`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from spectral.platform.models.budget import Budget
from spectral.platform.models.gateway import CallContext, ModelGateway
from spectral.platform.models.generator import GatewayGenerator
from spectral.platform.models.judge import GatewayJudge
from spectral.platform.models.models import CallPurpose, ModelRole


@dataclass(frozen=True, slots=True)
class ScanModels:
    gateway: ModelGateway
    budget: Budget
    # Always present with a gateway: a dimension may name its own judge model.
    judge: GatewayJudge
    # None without a proposer model (or with it disabled): no reflective rewrites.
    generator: GatewayGenerator | None


async def scan_models(
    gateway: ModelGateway, *, workspace_id: uuid.UUID, scan_id: uuid.UUID, budget_usd: float
) -> ScanModels:
    budget = await gateway.scan_budget(workspace_id, scan_id, budget_usd)
    judge_model = await gateway.role_model(ModelRole.JUDGE)
    proposer_model = await gateway.role_model(ModelRole.PROPOSER)
    judge = GatewayJudge(gateway, CallContext(workspace_id, scan_id, CallPurpose.JUDGE), budget, judge_model)
    generator = (
        None
        if proposer_model is None
        else GatewayGenerator(
            gateway, CallContext(workspace_id, scan_id, CallPurpose.PROPOSER), budget, proposer_model
        )
    )
    return ScanModels(gateway=gateway, budget=budget, judge=judge, generator=generator)
