"""OTEL: OTLP/HTTP trace export (`POST /otel/v1/traces`) and per-workspace ingest stats.

Mounted on the API and, as its own process, by `spectral-otel-ingest`. The body is read before the
write slot is taken (slow uploads hold no slot), inflated with a bound, decoded, normalised and
stored; the answer is an `ExportTraceServiceResponse` in the request's encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from spectral.platform.evaluations import online
from spectral.platform.shared.errors import PayloadTooLargeError
from spectral.platform.traces import service as traces_service
from spectral.platform.traces.otlp import (
    JSON,
    PROTOBUF,
    encode_json_response,
    encode_protobuf_response,
    otlp_media_type,
)
from spectral.platform.traces.payload import check_encoding, read_body
from spectral.platform.traces.schemas import IngestStatsRead
from spectral_api.auth import ExportPrincipal, IngestPrincipal
from spectral_api.dependencies import AppStateDep, DbSession
from spectral_api.middleware import BODY_LIMIT_EXTENSION, DECODES_OWN_VALUES_EXTENSION
from spectral_api.problems import problem_responses

router = APIRouter(tags=["OTEL"])

OTLP_TRACES_PATH = "/otel/v1/traces"


@dataclass(frozen=True, slots=True)
class OtlpPayload:
    media_type: str
    body: bytes


async def otlp_payload(request: Request, state: AppStateDep) -> OtlpPayload:
    """The request body, checked for type and encoding and inflated within the size limit."""
    media_type = otlp_media_type(request.headers.get("content-type"))
    encoding = check_encoding(request.headers.get("content-encoding"))
    limit = state.settings.otlp_max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"The request body exceeds the limit of {limit} bytes")
    body = await read_body(request.stream(), content_encoding=encoding, limit=limit)
    return OtlpPayload(media_type=media_type, body=body)


_OTLP_BODY = {
    BODY_LIMIT_EXTENSION: "otlp_max_body_bytes",
    # NUL characters are dropped, out-of-range numbers reject their span (as in gzip bodies, which
    # the input check never reads).
    DECODES_OWN_VALUES_EXTENSION: True,
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportTraceServiceRequest, optionally with Content-Encoding: gzip",
        "content": {
            PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            JSON: {"schema": {"type": "object", "description": "OTLP/JSON ExportTraceServiceRequest"}},
        },
    },
}
_OTLP_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "ExportTraceServiceResponse in the request's encoding; partialSuccess counts rejected spans",
        "content": {
            PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            JSON: {"schema": {"type": "object"}},
        },
    }
}


@router.post(
    OTLP_TRACES_PATH,
    summary="Export spans (OTLP/HTTP, protobuf or JSON)",
    response_class=Response,
    openapi_extra=_OTLP_BODY,
    responses={**_OTLP_RESPONSE, **problem_responses(400, 401, 403, 413, 415, 429, 503)},
)
async def export_traces(
    principal: ExportPrincipal,
    payload: Annotated[OtlpPayload, Depends(otlp_payload)],
    session: DbSession,
    state: AppStateDep,
) -> Response:
    batch = await traces_service.ingest_otlp(
        session,
        principal,
        payload.body,
        payload.media_type,
        state.ingest_gate,
        state.ingest_quota,
        retention=state.trace_retention,
        agents=state.agent_directories,
    )
    await online.defer_online_scoring(
        session,
        traces_service.workspace_of(principal),
        [s.trace_id for s in batch.spans],
        [s.span_id for s in batch.spans],
        state.agent_directories,
    )
    encode = encode_protobuf_response if payload.media_type == PROTOBUF else encode_json_response
    return Response(content=encode(batch), media_type=payload.media_type)


@router.get(
    f"{OTLP_TRACES_PATH}/stats",
    summary="Ingest counters of the caller's workspace",
    response_model=IngestStatsRead,
    responses=problem_responses(400, 401, 403),
)
async def ingest_stats(principal: IngestPrincipal, session: DbSession) -> IngestStatsRead:
    return await traces_service.ingest_stats(session, principal)
