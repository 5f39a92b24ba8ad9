"""Inference: an agent's prompt template recovered from the prompts its LLM spans carried."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from spectral.platform.inference import service
from spectral.platform.inference.schemas import InferenceResult, InferTemplateRequest
from spectral.platform.scans.inputs import analysed_window
from spectral_api.auth import WorkspaceRead
from spectral_api.dependencies import AppStateDep, DbSession
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/agents", tags=["Inference"])


@router.post(
    "/{agent_id}/infer-template",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
    summary=(
        "Infer the prompt template (constant text, {{slots}}, examples, coverage), optionally from a "
        "scan's traces; read:workspace, and write:workspace to `save` it"
    ),
)
async def infer_template(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    body: InferTemplateRequest,
    principal: WorkspaceRead,
    session: DbSession,
    state: AppStateDep,
) -> InferenceResult:
    window = (
        None if body.scan_id is None else await analysed_window(session, workspace_id, body.scan_id, agent_id)
    )
    return await service.infer_template(session, principal, agent_id, body, window, scoring=state.scoring)
