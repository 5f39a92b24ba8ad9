"""The floors `agent_config.py` measures Spectral against, served by uvicorn exactly as Spectral is
(one process, uvloop + httptools):

- `bare_app`: a FastAPI endpoint at the same path returning the same body and ETag (304 on a
  matching If-None-Match) from memory: what the framework and server cost by themselves.
- `one_query_app`: the same endpoint reading the body with one SELECT of the agent row per request
  over a pool of open psycopg connections: the cheapest read that still asks the database.

    uvicorn --factory floors:bare_app        (FLOOR_BODY: the body's file, FLOOR_ETAG: its ETag)
    uvicorn --factory floors:one_query_app   (FLOOR_DSN, FLOOR_AGENT_ID)
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from fastapi import FastAPI, Request, Response

PATH = "/api/v1/workspaces/{workspace_id}/agents/{agent_id}/config"
POOL_SIZE = 10


def _respond(request: Request, body: bytes, etag: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


def bare_app() -> FastAPI:
    body = Path(os.environ["FLOOR_BODY"]).read_bytes()
    etag = os.environ["FLOOR_ETAG"]
    app = FastAPI()

    @app.get(PATH)
    async def config(workspace_id: str, agent_id: str, request: Request) -> Response:
        return _respond(request, body, etag)

    return app


def one_query_app() -> FastAPI:
    dsn = os.environ["FLOOR_DSN"]
    pool: asyncio.Queue[psycopg.AsyncConnection[tuple[object, ...]]] = asyncio.Queue()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for _ in range(POOL_SIZE):
            pool.put_nowait(await psycopg.AsyncConnection.connect(dsn, autocommit=True))
        yield
        while not pool.empty():
            await pool.get_nowait().close()

    app = FastAPI(lifespan=lifespan)

    @app.get(PATH)
    async def config(workspace_id: str, agent_id: str, request: Request) -> Response:
        conn = await pool.get()
        try:
            cursor = await conn.execute(
                "SELECT active_config, active_etag FROM agents WHERE id = %s AND workspace_id = %s",
                (agent_id, workspace_id),
            )
            row = await cursor.fetchone()
        finally:
            pool.put_nowait(conn)
        if row is None:
            return Response(status_code=404)
        body = json.dumps(row[0], separators=(",", ":"), ensure_ascii=False).encode()
        return _respond(request, body, f'"{row[1]}"')

    return app
