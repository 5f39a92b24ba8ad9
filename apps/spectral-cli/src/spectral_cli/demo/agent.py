"""The demo agent's replay endpoint: `python -m spectral_cli.demo.agent --port 8765 --seed 7`.

It serves the replay contract of docs/scans.md (`POST /replay` with `{"input", "config", "trace_id",
"sample_id"}` -> `{"output", "finish_reason", "model", "usage", "cost_usd", "latency_ms",
"tool_calls"}`) with `spectral.engine.synthetic`'s support agent, whose failures depend on the
config it is sent: so a scan's change sets are measurably right or wrong, never assumed.
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from spectral.engine.synthetic import demo_agent_reply
from spectral.engine.types import AgentConfig, ReplayInput


def create_app(seed: int) -> Starlette:
    async def replay(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
            config = AgentConfig.from_dict(body["config"])
            item = ReplayInput.from_dict(
                {"input": body["input"], "trace_id": body.get("trace_id"), "sample_id": body.get("sample_id")}
            )
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad replay request: {exc}"}, status_code=400)
        return JSONResponse(demo_agent_reply(item, config, seed=seed).to_dict())

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "seed": seed})

    return Starlette(routes=[Route("/replay", replay, methods=["POST"]), Route("/health", health)])


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the demo support agent's replay endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--seed", type=int, default=7, help="must match the seed the traces were generated with"
    )
    args = parser.parse_args()
    uvicorn.run(create_app(args.seed), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
