"""The planted-failure workspace of `spectral.engine.synthetic`, as the API payloads a user would
send: the agent with its baseline config, the rubric and objective, and the recorded traffic as
spans in Spectral's native JSON ingest (GenAI semantic conventions), plus user feedback.

Used by `spectral demo` (`make demo`) and the scan tests, so both exercise the real ingest path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from spectral.engine.synthetic import SyntheticWorkspace, generate_workspace
from spectral.engine.types import Trace, input_text

AGENT_SLUG = "support-agent"
# The synthetic `helpful` dimension compares answers with reference answers, which production
# traces do not carry; the demo rubric keeps the dimensions that recorded traffic can be judged on.
_REFERENCE_ONLY_DIMENSIONS = {"helpful"}
_START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DemoWorkspace:
    synthetic: SyntheticWorkspace

    @property
    def seed(self) -> int:
        return self.synthetic.seed

    def agent_payload(self, replay_url: str | None) -> dict[str, Any]:
        return {
            "name": "Acme support agent",
            "slug": AGENT_SLUG,
            "description": "Answers customer questions as JSON, looks orders up with tools",
            "replay_url": replay_url,
            "config": self.synthetic.baseline.to_dict(),
        }

    def rubric_payload(self) -> dict[str, Any]:
        rubric = self.synthetic.rubric.to_dict()
        dimensions = [d for d in rubric["dimensions"] if d["key"] not in _REFERENCE_ONLY_DIMENSIONS]
        return {"name": "support answers", "dimensions": dimensions}

    def objective_payload(self, rubric_id: str) -> dict[str, Any]:
        objective = self.synthetic.objective.to_dict()
        return {
            "name": "quality first, then cost",
            "rubric_id": rubric_id,
            "weights": objective["weights"],
            "constraints": {k: v for k, v in objective["constraints"].items() if v not in (None, {})},
        }

    def span_batches(self, batch_size: int = 200) -> Iterator[list[dict[str, Any]]]:
        """The traffic as native-ingest span batches (a few traces' spans per request)."""
        batch: list[dict[str, Any]] = []
        for index, trace in enumerate(self.synthetic.traces):
            batch.extend(trace_spans(trace, _START + timedelta(seconds=30 * index)))
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def feedback(self) -> Iterator[tuple[str, float]]:
        for trace in self.synthetic.traces:
            for value in trace.feedback:
                yield trace.trace_id, value


def demo_workspace(seed: int = 7, n_traces: int = 1200) -> DemoWorkspace:
    return DemoWorkspace(generate_workspace(seed, n_traces))


def _span_id(trace: Trace, index: int) -> str:
    return f"{trace.trace_id[:12]}{index:04x}"


def trace_spans(trace: Trace, start: datetime) -> list[dict[str, Any]]:
    """One trace as spans: the agent's root span, its LLM call, and each tool call."""
    latency = timedelta(milliseconds=trace.latency_ms or 100.0)
    end = start + latency
    root_id = _span_id(trace, 0)
    error = trace.status.value == "error"
    root: dict[str, Any] = {
        "trace_id": trace.trace_id,
        "span_id": root_id,
        "name": "support-agent.answer",
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "status": "error" if error else "ok",
        "status_message": trace.error_message if error else None,
        "attributes": {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": AGENT_SLUG,
            "session.id": trace.session_id,
            "input.value": input_text(trace.input),
            "output.value": trace.output,
            **({"error.type": trace.error_type} if error and trace.error_type else {}),
        },
    }
    llm: dict[str, Any] = {
        "trace_id": trace.trace_id,
        "span_id": _span_id(trace, 1),
        "parent_span_id": root_id,
        "name": f"chat {trace.model}",
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "status": "ok",
        "attributes": {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": trace.model,
            "gen_ai.usage.input_tokens": trace.input_tokens,
            "gen_ai.usage.output_tokens": trace.output_tokens,
            "gen_ai.response.finish_reasons": [trace.finish_reason or "stop"],
            "spectral.cost_usd": trace.cost_usd,
            "input.value": input_text(trace.input),
            "output.value": trace.output,
        },
    }
    spans = [root, llm]
    for index, call in enumerate(trace.tool_calls, start=2):
        spans.append(
            {
                "trace_id": trace.trace_id,
                "span_id": _span_id(trace, index),
                "parent_span_id": root_id,
                "name": f"execute_tool {call.name}",
                "start_time": start.isoformat(),
                "end_time": end.isoformat(),
                "status": "error" if call.error else "ok",
                "status_message": call.error,
                "attributes": {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": call.name,
                    "gen_ai.tool.call.arguments": json.dumps(dict(call.arguments)),
                },
            }
        )
    return spans
