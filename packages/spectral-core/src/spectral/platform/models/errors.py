"""Why a gateway call did not produce a completion. Budget stops are the engine's
`BudgetExhausted` (the scan stops spending and says so); everything else is a `GatewayError`,
which a judge turns into "cannot judge" and a generator into fewer completions."""

from __future__ import annotations

from spectral.engine.errors import BudgetExhausted


class UnpricedModelError(BudgetExhausted):
    """Neither operations' config nor the catalog prices the model, so no budget can be kept:
    the call is refused like one over budget (set a price, 0 for a local model, to allow it)."""


class GatewayError(Exception):
    """A call the gateway refused or the provider failed."""


class ModelDisabledError(GatewayError):
    """Operations disabled the model."""


class CircuitOpenError(GatewayError):
    """The model's circuit is open after repeated failures; the call was refused without a request."""


class PromptTooLongError(GatewayError):
    """The prompt leaves no room for an answer in the model's context window."""


class ModelCallFailedError(GatewayError):
    """The provider failed the call, after any retries."""
