"""The model price catalog: USD per 1M input/output tokens, shipped as data (`prices.json`).

Trace ingestion prices an LLM span from it when the span carries no cost of its own; the model
gateway will price its calls from the same catalog. A model name matches exactly, else by the
longest catalog name it starts with at a name boundary, so dated variants (`gpt-4o-2024-08-06`,
`claude-3-5-sonnet-20241022`) and routed names (`openai/gpt-4o`, `us.anthropic.claude-3-haiku-…`)
find their base price.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

# After a matched prefix the name must continue with one of these, so `gpt-4` never prices `gpt-4o`
# and `gpt-4` never prices `gpt-4.1` ("." is part of version numbers, not a separator).
_BOUNDARY = frozenset("-@:_ ")
# Routing prefixes of gateways and clouds: `openai/…`, `models/…`, `us.anthropic.…`, `bedrock.…`.
_VENDOR_SEGMENT = re.compile(r"^[a-z]+\.(?=[a-z])")
_MEMO_LIMIT = 4096
PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    model: str
    provider: str
    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int | None, output_tokens: int | None) -> float:
        return (
            (input_tokens or 0) * self.input_per_million + (output_tokens or 0) * self.output_per_million
        ) / PER_MILLION


def canonical_model_name(model: str) -> str:
    """Lower case, without a gateway path (`openai/gpt-4o`) or cloud vendor prefix (`anthropic.`)."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    while match := _VENDOR_SEGMENT.match(name):
        name = name[match.end() :]
    return name


class PriceCatalog:
    def __init__(self, prices: Iterable[ModelPrice]) -> None:
        self._exact = {canonical_model_name(price.model): price for price in prices}
        # Longest first, so the first boundary match is the most specific one.
        self._by_length = sorted(self._exact.items(), key=lambda item: len(item[0]), reverse=True)
        self._memo: dict[str, ModelPrice | None] = {}

    def __len__(self) -> int:
        return len(self._exact)

    def lookup(self, model: str) -> ModelPrice | None:
        try:
            return self._memo[model]
        except KeyError:
            pass
        found = self._match(canonical_model_name(model))
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[model] = found
        return found

    def cost(self, model: str | None, input_tokens: int | None, output_tokens: int | None) -> float | None:
        """The price of a call, or None when the model is unknown or no tokens were counted."""
        if not model or (input_tokens is None and output_tokens is None):
            return None
        price = self.lookup(model)
        return None if price is None else price.cost(input_tokens, output_tokens)

    def _match(self, name: str) -> ModelPrice | None:
        exact = self._exact.get(name)
        if exact is not None:
            return exact
        for candidate, price in self._by_length:
            if (
                len(name) > len(candidate)
                and name.startswith(candidate)
                and name[len(candidate)] in _BOUNDARY
            ):
                return price
        return None


def load_prices(text: str) -> list[ModelPrice]:
    data = json.loads(text)
    return [
        ModelPrice(
            model=str(item["model"]),
            provider=str(item.get("provider", "")),
            input_per_million=float(item["input_per_million"]),
            output_per_million=float(item["output_per_million"]),
        )
        for item in data["models"]
    ]


@cache
def default_catalog() -> PriceCatalog:
    """The catalog shipped with Spectral (read once per process)."""
    text = files("spectral.platform.models").joinpath("prices.json").read_text(encoding="utf-8")
    return PriceCatalog(load_prices(text))
