"""Replay runners: the engine's `Runner`, by the agent's own `replay_url` (docs/scans.md contract) or,
without one, by executing the agent's managed templates through the model gateway.

Every HTTP call goes through the SSRF guard's transport: the host is resolved once per call, every
address checked, and the connection made to a checked address (so DNS rebinding after the agent was
saved, or between the check and the connect, does not reach an internal address). A call sends
`{"input", "config", "trace_id", "sample_id"}` and reads at most `MAX_RESPONSE_BYTES` back. Failures become error results (timeouts, 5xx, bad JSON), never
exceptions, so one bad input does not lose a batch. Concurrency is bounded per runner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Sequence

import httpx

from spectral.engine.types import AgentConfig, ReplayInput, ReplayResult, TraceStatus, input_text
from spectral.platform.agents.replay_url import (
    GuardedTransport,
    Resolver,
    UnsafeReplayUrlError,
    resolve_host,
)
from spectral.platform.agents.templating import TemplateRenderError, declared_variables, render
from spectral.platform.models.budget import Budget
from spectral.platform.models.errors import GatewayError
from spectral.platform.models.gateway import CallContext, ModelGateway
from spectral.platform.models.pricing import PriceCatalog
from spectral.platform.models.providers import ChatRequest
from spectral.platform.shared import metrics
from spectral.platform.shared.settings import Settings

MAX_RESPONSE_BYTES = 1024 * 1024
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT_S = 30.0


class HttpReplayRunner:
    def __init__(
        self,
        url: str,
        *,
        allow_private: bool,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = resolve_host,
    ) -> None:
        self.url = url
        self._limit = asyncio.Semaphore(concurrency)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            follow_redirects=False,
            transport=GuardedTransport(allow_private=allow_private, resolver=resolver, inner=transport),
            headers={"user-agent": "spectral-replay/1"},
        )

    async def run(self, config: AgentConfig, inputs: Sequence[ReplayInput]) -> list[ReplayResult]:
        return list(await asyncio.gather(*(self._one(config, item) for item in inputs)))

    async def _one(self, config: AgentConfig, item: ReplayInput) -> ReplayResult:
        async with self._limit:
            started = time.perf_counter()
            return _counted("http", started, await self._call(config, item, started))

    async def _call(self, config: AgentConfig, item: ReplayInput, started: float) -> ReplayResult:
        try:
            body = await self._post(item.request_body(config))
            result = ReplayResult.from_dict(body)
        except UnsafeReplayUrlError as exc:
            return _failed("unsafe_replay_url", str(exc))
        except httpx.TimeoutException:
            return _failed("replay_timeout", f"no answer from the replay endpoint in time ({self.url})")
        except httpx.HTTPError as exc:
            return _failed("replay_unreachable", f"{type(exc).__name__}: {exc}")
        except _ReplayStatusError as exc:
            return _failed("replay_http_error", str(exc))
        except (KeyError, ValueError, TypeError) as exc:
            return _failed("replay_invalid_response", f"the replay endpoint's answer is invalid: {exc}")
        if result.latency_ms is None:
            elapsed = round((time.perf_counter() - started) * 1000, 2)
            result = dataclasses.replace(result, latency_ms=elapsed)
        return result

    async def _post(self, payload: dict[str, object]) -> dict[str, object]:
        async with self._client.stream("POST", self.url, json=payload) as response:
            if response.status_code != 200:
                raise _ReplayStatusError(f"the replay endpoint answered {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise ValueError(f"response larger than {MAX_RESPONSE_BYTES} bytes")
                chunks.append(chunk)
        body = json.loads(b"".join(chunks))
        if not isinstance(body, dict):
            raise TypeError("response is not a JSON object")
        return body

    async def aclose(self) -> None:
        await self._client.aclose()


class _ReplayStatusError(Exception):
    pass


def _counted(runner: str, started: float, result: ReplayResult) -> ReplayResult:
    """Count a replay in the replay metrics (every replay of either runner passes here)."""
    failed = result.status is TraceStatus.ERROR
    metrics.REPLAY_CALLS.labels(runner, "error" if failed else "ok").inc()
    metrics.REPLAY_DURATION.labels(runner).observe(time.perf_counter() - started)
    if result.cost_usd is not None and result.cost_usd > 0:
        metrics.REPLAY_COST.labels(runner).inc(result.cost_usd)
    return result


def _failed(error_type: str, message: str) -> ReplayResult:
    return ReplayResult(
        output="", status=TraceStatus.ERROR, error_type=error_type, error_message=message[:2000]
    )


class GatewayTemplateRunner:
    """Runs a config by its templates through the model gateway: `system` as the system prompt and
    `user` rendered with the input (its one `{{variable}}` takes the input text). The agent's tools
    are not executed here, so a replay has no tool calls; agents whose answers depend on tools need
    a `replay_url`. Calls are ledgered as `replay` and count against the scan's budget."""

    def __init__(
        self,
        gateway: ModelGateway,
        context: CallContext,
        budget: Budget,
        *,
        catalog: PriceCatalog,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._gateway = gateway
        self._context = context
        self._budget = budget
        self._catalog = catalog
        self._limit = asyncio.Semaphore(concurrency)

    async def run(self, config: AgentConfig, inputs: Sequence[ReplayInput]) -> list[ReplayResult]:
        return list(await asyncio.gather(*(self._one(config, item) for item in inputs)))

    async def _one(self, config: AgentConfig, item: ReplayInput) -> ReplayResult:
        started = time.perf_counter()
        try:
            prompt = render_user_prompt(config, input_text(item.input))
        except TemplateRenderError as exc:
            return _counted("gateway", started, _failed("template_error", str(exc)))
        request = ChatRequest(
            model=config.model,
            prompt=prompt,
            system=config.templates.get("system"),
            max_tokens=int(config.params.get("max_tokens", 1024)),
            temperature=float(config.params.get("temperature", 0.0)),
        )
        async with self._limit:
            started = time.perf_counter()
            try:
                completion = await self._gateway.complete(request, self._context, self._budget)
            except GatewayError as exc:
                return _counted("gateway", started, _failed("model_error", str(exc)))
        result = ReplayResult(
            output=completion.text,
            finish_reason=completion.finish_reason,
            model=config.model,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            cost_usd=self._catalog.cost(config.model, completion.input_tokens, completion.output_tokens),
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return _counted("gateway", started, result)

    async def aclose(self) -> None:
        """The gateway belongs to the caller."""


def render_user_prompt(config: AgentConfig, text: str) -> str:
    """The user turn: the `user` template with its first variable filled by the input, or the
    input itself when there is no template. A template of several variables cannot be filled from
    one input: `MissingVariablesError` names the others (`RenderedTooLongError`: the input repeated
    in every slot would be too long)."""
    template = config.templates.get("user")
    if template is None:
        return text
    variables = declared_variables(template)
    if not variables:
        return f"{template}\n\n{text}"
    return render(template, {variables[0]: text})


def build_runner(replay_url: str | None, settings: Settings) -> HttpReplayRunner | None:
    """The agent's replay endpoint as a runner, or None (see `GatewayTemplateRunner` for agents
    without one when a model provider is configured)."""
    if not replay_url:
        return None
    return HttpReplayRunner(replay_url, allow_private=settings.replay_allow_private)
