"""The floors `agent_config.py` measures Spectral against, served by uvicorn exactly as Spectral is
(one process, uvloop + httptools):

- `bare_app`: FastAPI endpoints at the same paths returning the same bodies from memory (the
  config with its ETag, 304 on a matching If-None-Match; the agent): what the framework and
  server cost by themselves.
- `one_query_app`: the same endpoints reading the body with one SELECT of the agent row per
  request over a pool of open psycopg connections: the cheapest read that still asks the database.

    uvicorn --factory floors:bare_app        (FLOOR_BODY, FLOOR_AGENT_BODY: the bodies' files,
                                              FLOOR_ETAG: the config's ETag)
    uvicorn --factory floors:one_query_app   (FLOOR_DSN)
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

AGENT_PATH = "/api/v1/workspaces/{workspace_id}/agents/{agent_id}"
PATH = AGENT_PATH + "/config"
POOL_SIZE = 10
# The columns `GET agents/{id}` answers with, under the names it uses.
_AGENT_COLUMNS = (
    "id, workspace_id, name, slug, description, replay_url, active_version_number AS active_version, "
    "online_rubric_id, online_sample_rate, created_by, created_at, updated_at"
)


def _respond(request: Request, body: bytes, etag: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


def bare_app() -> FastAPI:
    body = Path(os.environ["FLOOR_BODY"]).read_bytes()
    agent_body = Path(os.environ["FLOOR_AGENT_BODY"]).read_bytes()
    etag = os.environ["FLOOR_ETAG"]
    app = FastAPI()

    @app.get(PATH)
    async def config(workspace_id: str, agent_id: str, request: Request) -> Response:
        return _respond(request, body, etag)

    @app.get(AGENT_PATH)
    async def agent(workspace_id: str, agent_id: str) -> Response:
        return Response(content=agent_body, media_type="application/json")

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

    async def fetch(query: str, workspace_id: str, agent_id: str) -> tuple[object, ...] | None:
        conn = await pool.get()
        try:
            cursor = await conn.execute(query, (agent_id, workspace_id))
            return await cursor.fetchone()
        finally:
            pool.put_nowait(conn)

    @app.get(PATH)
    async def config(workspace_id: str, agent_id: str, request: Request) -> Response:
        row = await fetch(
            "SELECT active_config, active_etag FROM agents WHERE id = %s AND workspace_id = %s",
            workspace_id,
            agent_id,
        )
        if row is None:
            return Response(status_code=404)
        body = json.dumps(row[0], separators=(",", ":"), ensure_ascii=False).encode()
        return _respond(request, body, f'"{row[1]}"')

    @app.get(AGENT_PATH)
    async def agent(workspace_id: str, agent_id: str) -> Response:
        row = await fetch(
            f"SELECT row_to_json(a)::text FROM (SELECT {_AGENT_COLUMNS} FROM agents "
            "WHERE id = %s AND workspace_id = %s) a",
            workspace_id,
            agent_id,
        )
        if row is None:
            return Response(status_code=404)
        return Response(content=str(row[0]), media_type="application/json")

    return app
