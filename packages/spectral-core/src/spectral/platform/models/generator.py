"""The engine's `Generator` through the gateway: `n` completions of one prompt by the proposer model.

Each completion is its own gateway call (`sample` i in the cache key, so a re-run gets the same n
answers for free; Anthropic has no `n` parameter anyway). Completions the gateway refused or the
provider failed are left out; over budget before any completion, `BudgetExhausted` goes through so
rewriting stops.
"""

from __future__ import annotations

import asyncio
import logging

from spectral.engine.errors import BudgetExhausted
from spectral.platform.models.budget import Budget
from spectral.platform.models.errors import GatewayError
from spectral.platform.models.gateway import CallContext, ModelGateway
from spectral.platform.models.providers import ChatRequest, Completion

log = logging.getLogger("spectral.models")


class GatewayGenerator:
    def __init__(self, gateway: ModelGateway, context: CallContext, budget: Budget, model: str) -> None:
        self._gateway = gateway
        self._context = context
        self._budget = budget
        self.model = model

    async def generate(
        self,
        prompt: str,
        *,
        system: str | None = None,
        n: int = 1,
        max_tokens: int = 1024,
        temperature: float = 0.7,
    ) -> list[str]:
        request = ChatRequest(self.model, prompt, system, max_tokens, temperature)
        outcomes = await asyncio.gather(
            *(self._gateway.complete(request, self._context, self._budget, sample=i) for i in range(n)),
            return_exceptions=True,
        )
        texts: list[str] = []
        exhausted: BudgetExhausted | None = None
        for outcome in outcomes:
            if isinstance(outcome, Completion):
                texts.append(outcome.text)
            elif isinstance(outcome, BudgetExhausted):
                exhausted = outcome
            elif isinstance(outcome, GatewayError):
                log.warning("generation failed", extra={"model": self.model, "error": str(outcome)})
            else:
                raise outcome
        if not texts and exhausted is not None:
            raise exhausted
        return texts
