"""Agents: CRUD, immutable config versions, managed templates and the runtime config an agent
fetches (with an API key holding `read:agents`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response, status

from spectral.platform.agents import service
from spectral.platform.agents.schemas import (
    AgentCreate,
    AgentRead,
    AgentUpdate,
    ConfigVersionCreate,
    ConfigVersionRead,
    RenderedTemplate,
    RuntimeConfig,
    TemplateCreate,
    TemplateName,
    TemplateRead,
    TemplateRender,
    TemplateUpdate,
    TemplateVersionRead,
)
from spectral.platform.evaluations import online
from spectral.platform.shared.pagination import Page
from spectral.platform.shared.schema_types import PositiveInt64Param
from spectral_api.auth import AgentsApprove, AgentsRead, WorkspaceWrite
from spectral_api.dependencies import AppStateDep, DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/agents", tags=["Agents"])

TemplateNamePath = Annotated[TemplateName, Path(description="The template's name, e.g. system")]
VersionNumber = Annotated[PositiveInt64Param, Path(description="The config version number")]


def _location(workspace_id: uuid.UUID, *parts: object) -> str:
    return "/".join([f"/api/v1/workspaces/{workspace_id}/agents", *(str(part) for part in parts)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Create an agent; a `config` becomes version 1, active at once",
)
async def create_agent(
    workspace_id: uuid.UUID,
    body: AgentCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    state: AppStateDep,
    response: Response,
) -> AgentRead:
    agent = await service.create_agent(
        session, principal, body, allow_private_replay=state.settings.replay_allow_private
    )
    response.headers["Location"] = _location(workspace_id, agent.id)
    return agent


@router.get("", responses=problem_responses(401, 403, 404), summary="List agents")
async def list_agents(
    workspace_id: uuid.UUID, principal: AgentsRead, session: DbSession, page: Pagination
) -> Page[AgentRead]:
    return await service.list_agents(session, principal, page)


@router.get("/{agent_id}", responses=problem_responses(401, 403, 404), summary="Get an agent")
async def get_agent(
    workspace_id: uuid.UUID, agent_id: uuid.UUID, principal: AgentsRead, session: DbSession
) -> AgentRead:
    return await service.get_agent(session, principal, agent_id)


@router.patch(
    "/{agent_id}",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Change an agent's name, slug, description, replay URL or online rubric and sample rate",
)
async def update_agent(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    body: AgentUpdate,
    principal: WorkspaceWrite,
    session: DbSession,
    state: AppStateDep,
) -> AgentRead:
    return await online.update_agent(
        session, principal, agent_id, body, allow_private_replay=state.settings.replay_allow_private
    )


@router.delete(
    "/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 401, 403, 404),
    summary="Delete an agent with its versions and templates",
)
async def delete_agent(
    workspace_id: uuid.UUID, agent_id: uuid.UUID, principal: WorkspaceWrite, session: DbSession
) -> None:
    await service.delete_agent(session, principal, agent_id)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison, a list of tags or `*`."""
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


@router.get(
    "/{agent_id}/config",
    response_model=RuntimeConfig,
    responses={
        status.HTTP_304_NOT_MODIFIED: {"description": "Not modified: the ETag still matches"},
        **problem_responses(400, 401, 403, 404),
    },
    summary="The active config with its templates (runtime; ETag + If-None-Match)",
)
async def runtime_config(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    principal: AgentsRead,
    session: DbSession,
    state: AppStateDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    document = await service.runtime_document(session, principal, agent_id, state.runtime_cache)
    headers = {"ETag": document.etag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and _etag_matches(if_none_match, document.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=document.body, media_type="application/json", headers=headers)


@router.get(
    "/{agent_id}/versions",
    responses=problem_responses(401, 403, 404),
    summary="List config versions, newest first",
)
async def list_versions(
    workspace_id: uuid.UUID, agent_id: uuid.UUID, principal: AgentsRead, session: DbSession, page: Pagination
) -> Page[ConfigVersionRead]:
    return await service.list_versions(session, principal, agent_id, page)


@router.post(
    "/{agent_id}/versions",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Create an immutable config version (active at once only if the agent has none)",
)
async def create_version(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    body: ConfigVersionCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> ConfigVersionRead:
    version = await service.create_version(session, principal, agent_id, body)
    response.headers["Location"] = _location(workspace_id, agent_id, "versions", version.number)
    return version


@router.get(
    "/{agent_id}/versions/{number}",
    responses=problem_responses(401, 403, 404),
    summary="Get a config version",
)
async def get_version(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    number: VersionNumber,
    principal: AgentsRead,
    session: DbSession,
) -> ConfigVersionRead:
    return await service.get_version(session, principal, agent_id, number)


@router.post(
    "/{agent_id}/versions/{number}/promote",
    responses=problem_responses(400, 401, 403, 404),
    summary="Make a config version the active one (approve:agents)",
)
async def promote_version(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    number: VersionNumber,
    principal: AgentsApprove,
    session: DbSession,
) -> ConfigVersionRead:
    return await service.promote(session, principal, agent_id, number)


@router.get(
    "/{agent_id}/templates",
    responses=problem_responses(401, 403, 404),
    summary="List managed templates with their latest text",
)
async def list_templates(
    workspace_id: uuid.UUID, agent_id: uuid.UUID, principal: AgentsRead, session: DbSession, page: Pagination
) -> Page[TemplateRead]:
    return await service.list_templates(session, principal, agent_id, page)


@router.post(
    "/{agent_id}/templates",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Create a managed template (version 1)",
)
async def create_template(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    body: TemplateCreate,
    principal: WorkspaceWrite,
    session: DbSession,
    response: Response,
) -> TemplateRead:
    template = await service.create_template(session, principal, agent_id, body)
    response.headers["Location"] = _location(workspace_id, agent_id, "templates", template.name)
    return template


@router.get(
    "/{agent_id}/templates/{name}",
    responses=problem_responses(401, 403, 404),
    summary="Get a managed template's latest version",
)
async def get_template(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    name: TemplateNamePath,
    principal: AgentsRead,
    session: DbSession,
) -> TemplateRead:
    return await service.get_template(session, principal, agent_id, name)


@router.put(
    "/{agent_id}/templates/{name}",
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Store a new version of a template (created if absent; unchanged text adds nothing)",
)
async def put_template(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    name: TemplateNamePath,
    body: TemplateUpdate,
    principal: WorkspaceWrite,
    session: DbSession,
) -> TemplateRead:
    return await service.put_template(session, principal, agent_id, name, body)


@router.get(
    "/{agent_id}/templates/{name}/versions",
    responses=problem_responses(401, 403, 404),
    summary="List a template's immutable versions, newest first",
)
async def list_template_versions(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    name: TemplateNamePath,
    principal: AgentsRead,
    session: DbSession,
    page: Pagination,
) -> Page[TemplateVersionRead]:
    return await service.list_template_versions(session, principal, agent_id, name, page)


@router.post(
    "/{agent_id}/templates/{name}/render",
    responses=problem_responses(401, 403, 404, 422),
    summary="Render a template version; every declared variable must be given",
)
async def render_template(
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    name: TemplateNamePath,
    body: TemplateRender,
    principal: AgentsRead,
    session: DbSession,
) -> RenderedTemplate:
    return await service.render_template(session, principal, agent_id, name, body)
