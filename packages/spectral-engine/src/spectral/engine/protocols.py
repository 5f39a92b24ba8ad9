"""What the engine needs from its caller, as small async protocols.

The engine does no I/O. The platform implements these with its replay client, model gateway, event
log and scan row; tests and the benchmark use in-process implementations (`synthetic.DemoRunner`,
`NullHooks`). A `Judge` or `Generator` prices each gateway call before making it and raises
`errors.BudgetExhausted` when the call would exceed the scan budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from spectral.engine.types import (
    AgentConfig,
    Dimension,
    EventLevel,
    ReplayInput,
    ReplayResult,
    ScanPhase,
    Trace,
)


@runtime_checkable
class Runner(Protocol):
    """Runs the agent with a config on inputs (the agent's replay endpoint or a managed template
    through the gateway). Returns one result per input, in order; a failed call is a result with
    status `error`, not an exception, so one bad input does not lose the batch."""

    async def run(self, config: AgentConfig, inputs: Sequence[ReplayInput]) -> list[ReplayResult]: ...


@dataclass(frozen=True, slots=True)
class JudgeScore:
    """An LLM judge's verdict on one trace for one dimension: a score in [0, 1] and its reason."""

    score: float
    reason: str


@runtime_checkable
class Judge(Protocol):
    """Scores a trace on an `llm_judge` dimension. Returns None when it cannot judge (no provider,
    unparsable answer): the dimension stays unscored rather than getting a made-up score."""

    async def judge(self, dimension: Dimension, trace: Trace) -> JudgeScore | None: ...


@runtime_checkable
class Generator(Protocol):
    """Text generation through the model gateway (reflective rewrites). Returns `n` completions."""

    async def generate(
        self,
        prompt: str,
        *,
        system: str | None = None,
        n: int = 1,
        max_tokens: int = 1024,
        temperature: float = 0.7,
    ) -> list[str]: ...


@runtime_checkable
class ScanHooks(Protocol):
    """How a running scan talks to the platform: its event log, its progress, per-phase persistence
    (so a phase's output survives a worker restart) and cancellation (checked between batches)."""

    async def event(
        self, phase: ScanPhase, level: EventLevel, message: str, data: Mapping[str, Any]
    ) -> None: ...

    async def progress(self, phase: ScanPhase, fraction: float) -> None: ...

    async def phase_output(self, phase: ScanPhase, payload: Mapping[str, Any]) -> None: ...

    async def cancelled(self) -> bool: ...


class NullHooks:
    """Hooks that record nothing and never cancel (benchmark, tests, library use)."""

    async def event(self, phase: ScanPhase, level: EventLevel, message: str, data: Mapping[str, Any]) -> None:
        return None

    async def progress(self, phase: ScanPhase, fraction: float) -> None:
        return None

    async def phase_output(self, phase: ScanPhase, payload: Mapping[str, Any]) -> None:
        return None

    async def cancelled(self) -> bool:
        return False
