"""Chat providers over httpx: one request in, one completion out, one attempt per `complete` call.

Retries, the circuit, pricing and the ledger belong to the gateway; a provider only speaks its
wire format and classifies failures as retryable (429, 5xx, timeouts, connection errors) or not,
carrying any `Retry-After` the server sent.
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx

from spectral.platform.shared.settings import LLMProvider, Settings

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
_ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and its arguments as JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    # None when the model sent arguments that are not a JSON object.
    arguments: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ToolTurn:
    """One round of tool use: the model's calls and, in the same order, the results sent back."""

    calls: tuple[ToolCall, ...]
    results: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    prompt: str
    system: str | None = None
    max_tokens: int = 1024
    temperature: float = 0.0
    # Tool calling: the tools offered, and the rounds of calls and results so far.
    tools: tuple[ToolSpec, ...] = ()
    tool_turns: tuple[ToolTurn, ...] = ()


@dataclass(frozen=True, slots=True)
class Completion:
    """A provider's answer. Token counts are the provider's own (None when it reported none)."""

    text: str
    finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    tool_calls: tuple[ToolCall, ...] = ()


class ProviderError(Exception):
    """A failed attempt. `retryable` failures are worth another attempt after a backoff, at least
    `retry_after` seconds when the server said so."""

    def __init__(
        self, message: str, *, retryable: bool, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class ChatProvider(Protocol):
    name: ClassVar[str]

    async def complete(self, request: ChatRequest) -> Completion: ...

    async def aclose(self) -> None: ...


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _is_retryable_status(status: int) -> bool:
    # >= 500 includes Anthropic's 529 "overloaded".
    return status == httpx.codes.TOO_MANY_REQUESTS or status >= httpx.codes.INTERNAL_SERVER_ERROR


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:_ERROR_TEXT_LIMIT]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:_ERROR_TEXT_LIMIT]
    if isinstance(error, str):
        return error[:_ERROR_TEXT_LIMIT]
    return response.text[:_ERROR_TEXT_LIMIT]


class _HttpProvider:
    name: ClassVar[str]

    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self._client = client
        self._url = url
        self._headers = headers

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(self._url, json=body, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise ProviderError(f"timeout: {type(exc).__name__}", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ProviderError(f"connection failed: {type(exc).__name__}: {exc}", retryable=True) from exc
        if response.status_code != httpx.codes.OK:
            raise ProviderError(
                f"HTTP {response.status_code}: {_error_text(response)}",
                retryable=_is_retryable_status(response.status_code),
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderError("response is not JSON", retryable=False, status=response.status_code) from exc
        if not isinstance(data, dict):
            raise ProviderError("response is not a JSON object", retryable=False, status=response.status_code)
        return data


def _usage(data: dict[str, Any]) -> dict[str, Any]:
    usage = data.get("usage")
    return usage if isinstance(usage, dict) else {}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class OpenAIProvider(_HttpProvider):
    """`POST {base}/chat/completions` of any OpenAI-compatible server (OpenAI, vLLM, Ollama, LiteLLM)."""

    name = LLMProvider.OPENAI.value

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        *,
        max_tokens_param: str = "max_tokens",
    ) -> None:
        super().__init__(client, url, headers)
        self._max_tokens_param = max_tokens_param

    async def complete(self, request: ChatRequest) -> Completion:
        messages: list[dict[str, Any]] = (
            [] if request.system is None else [{"role": "system", "content": request.system}]
        )
        messages.append({"role": "user", "content": request.prompt})
        for turn in request.tool_turns:
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": json.dumps(call.arguments or {})},
                        }
                        for call in turn.calls
                    ],
                }
            )
            messages.extend(
                {"role": "tool", "tool_call_id": call.id, "content": result}
                for call, result in zip(turn.calls, turn.results, strict=True)
            )
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            # `max_tokens` is what every compatible server accepts; OpenAI's reasoning models
            # want `max_completion_tokens` (SPECTRAL_LLM_OPENAI_MAX_TOKENS_PARAM).
            self._max_tokens_param: request.max_tokens,
            "temperature": request.temperature,
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
        data = await self._post(body)
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            calls = tuple(_openai_call(raw) for raw in choice["message"].get("tool_calls") or ())
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError("response has no choices[0].message", retryable=False) from exc
        usage = _usage(data)
        return Completion(
            text=str(text),
            finish_reason=choice.get("finish_reason"),
            input_tokens=_int_or_none(usage.get("prompt_tokens")),
            output_tokens=_int_or_none(usage.get("completion_tokens")),
            tool_calls=calls,
        )


def _json_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _openai_call(raw: dict[str, Any]) -> ToolCall:
    function = raw["function"]
    return ToolCall(
        id=str(raw["id"]), name=str(function["name"]), arguments=_json_object(function.get("arguments"))
    )


# Anthropic's stop reasons in the OpenAI vocabulary the scorers read (`not_truncated` looks for "length").
_ANTHROPIC_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


class AnthropicProvider(_HttpProvider):
    """`POST {base}/v1/messages` (Anthropic's Messages API)."""

    name = LLMProvider.ANTHROPIC.value

    async def complete(self, request: ChatRequest) -> Completion:
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": [{"role": "user", "content": request.prompt}],
        }
        for turn in request.tool_turns:
            body["messages"].append(
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments or {}}
                        for call in turn.calls
                    ],
                }
            )
            body["messages"].append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": call.id, "content": result}
                        for call, result in zip(turn.calls, turn.results, strict=True)
                    ],
                }
            )
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        if request.system is not None:
            body["system"] = request.system
        data = await self._post(body)
        content = data.get("content")
        if not isinstance(content, list):
            raise ProviderError("response has no content blocks", retryable=False)
        text = "".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
        calls = tuple(
            ToolCall(
                id=str(block.get("id", "")),
                name=str(block.get("name", "")),
                arguments=_json_object(block.get("input")),
            )
            for block in content
            if isinstance(block, dict) and block.get("type") == "tool_use"
        )
        usage = _usage(data)
        stop_reason = data.get("stop_reason")
        return Completion(
            text=text,
            finish_reason=_ANTHROPIC_FINISH.get(stop_reason, stop_reason)
            if isinstance(stop_reason, str)
            else None,
            input_tokens=_int_or_none(usage.get("input_tokens")),
            output_tokens=_int_or_none(usage.get("output_tokens")),
            tool_calls=calls,
        )


def build_provider(settings: Settings) -> ChatProvider | None:
    """The configured provider, or None when no provider is configured (the gateway is then absent)."""
    if settings.llm_provider is None:
        return None
    timeout = httpx.Timeout(settings.llm_timeout_s, connect=settings.llm_connect_timeout_s)
    # Model calls go where operations pointed them; redirects would only hide a wrong base URL.
    client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    if settings.llm_provider is LLMProvider.ANTHROPIC:
        base = (settings.llm_base_url or ANTHROPIC_BASE_URL).rstrip("/")
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return AnthropicProvider(client, f"{base}/v1/messages", headers)
    base = (settings.llm_base_url or OPENAI_BASE_URL).rstrip("/")
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    return OpenAIProvider(
        client, f"{base}/chat/completions", headers, max_tokens_param=settings.llm_openai_max_tokens_param
    )
