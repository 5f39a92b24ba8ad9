"""Agent use cases: CRUD, immutable config versions, managed templates and the runtime config.

Services flush, never commit. Public functions other contexts call:
- `active_config(session, workspace_id, agent_id) -> engine.types.AgentConfig`
- `version_config(session, workspace_id, agent_id, number) -> engine.types.AgentConfig`
- `create_version_from_config(session, principal, agent_id, config, note=...)` (a change set's candidate)
- `promote(session, principal, agent_id, number)` (activate a version)
- `save_template_text(session, principal, agent_id, name, text, source=...)` (a new template version)
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.types import AgentConfig
from spectral.platform.agents import repository
from spectral.platform.agents.errors import NoActiveConfigError
from spectral.platform.agents.models import Agent, AgentConfigVersion, AgentTemplate, AgentTemplateVersion
from spectral.platform.agents.replay_url import UnsafeReplayUrlError, check_replay_url
from spectral.platform.agents.schemas import (
    AgentCreate,
    AgentRead,
    AgentUpdate,
    ConfigBody,
    ConfigVersionCreate,
    ConfigVersionRead,
    RenderedTemplate,
    TemplateCreate,
    TemplateRead,
    TemplateRender,
    TemplateUpdate,
    TemplateVersionRead,
)
from spectral.platform.agents.templating import (
    MissingVariablesError,
    RenderedTooLongError,
    declared_variables,
    render,
)
from spectral.platform.identity.principal import Principal
from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.errors import ConflictError, NotFoundError, ValidationFailedError
from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.shared.read_cache import ReadCache
from spectral.platform.workspaces.audit import record_audit

TEMPLATE_SOURCE_MANUAL = "manual"
TEMPLATE_SOURCE_CONFIG = "config"


def workspace_of(principal: Principal) -> uuid.UUID:
    assert principal.workspace_id is not None, "agent routes are workspace-scoped"
    return principal.workspace_id


def content_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON of `value`: equal content, equal hash."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- agents ------------------------------------------------------------------------------------


def _agent_read(agent: Agent) -> AgentRead:
    return AgentRead(
        id=agent.id,
        workspace_id=agent.workspace_id,
        name=agent.name,
        slug=agent.slug,
        description=agent.description,
        replay_url=agent.replay_url,
        active_version=agent.active_version_number,
        online_rubric_id=agent.online_rubric_id,
        online_sample_rate=agent.online_sample_rate,
        created_by=agent.created_by,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


async def _require_agent(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, *, lock: bool = False
) -> Agent:
    load = repository.lock_agent if lock else repository.get_agent
    agent = await load(session, workspace_id, agent_id)
    if agent is None:
        raise NotFoundError.for_resource("Agent", agent_id)
    return agent


async def _validated_replay_url(url: str, *, allow_private: bool) -> str:
    try:
        await check_replay_url(url, allow_private=allow_private)
    except UnsafeReplayUrlError as exc:
        raise ValidationFailedError(
            "replay_url is not allowed",
            errors=[{"loc": ["body", "replay_url"], "msg": str(exc), "type": "value_error.replay_url"}],
        ) from exc
    return url


async def _flush_unique_slug(session: AsyncSession, slug: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request took the slug
        raise ConflictError(f"An agent with slug {slug!r} already exists in this workspace") from exc


async def create_agent(
    session: AsyncSession, principal: Principal, body: AgentCreate, *, allow_private_replay: bool
) -> AgentRead:
    workspace_id = workspace_of(principal)
    if await repository.slug_taken(session, workspace_id, body.slug):
        raise ConflictError(f"An agent with slug {body.slug!r} already exists in this workspace")
    replay_url = None
    if body.replay_url is not None:
        replay_url = await _validated_replay_url(body.replay_url, allow_private=allow_private_replay)
    agent = Agent(
        workspace_id=workspace_id,
        name=body.name,
        slug=body.slug,
        description=body.description,
        replay_url=replay_url,
        created_by=principal.actor,
    )
    session.add(agent)
    await _flush_unique_slug(session, body.slug)
    if body.config is not None:
        await _new_version(session, principal, agent, body.config, note="initial config", activate=True)
    read = _agent_read(agent)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="agent.create",
        resource_type="agent",
        resource_id=agent.id,
        after=read.model_dump(mode="json"),
    )
    return read


async def get_agent(session: AsyncSession, principal: Principal, agent_id: uuid.UUID) -> AgentRead:
    return _agent_read(await _require_agent(session, workspace_of(principal), agent_id))


async def list_agents(session: AsyncSession, principal: Principal, page: PageParams) -> Page[AgentRead]:
    rows, total = await repository.list_agents(session, workspace_of(principal), page)
    return Page.of([_agent_read(row) for row in rows], total=total, params=page)


async def update_agent(
    session: AsyncSession,
    principal: Principal,
    agent_id: uuid.UUID,
    body: AgentUpdate,
    *,
    allow_private_replay: bool,
) -> AgentRead:
    workspace_id = workspace_of(principal)
    agent = await _require_agent(session, workspace_id, agent_id, lock=True)
    before = _agent_read(agent).model_dump(mode="json")
    changes = body.model_dump(exclude_unset=True)
    new_slug = changes.get("slug")
    if (
        new_slug is not None
        and new_slug != agent.slug
        and await repository.slug_taken(session, workspace_id, new_slug, except_id=agent.id)
    ):
        raise ConflictError(f"An agent with slug {new_slug!r} already exists in this workspace")
    if changes.get("replay_url") is not None:
        changes["replay_url"] = await _validated_replay_url(
            changes["replay_url"], allow_private=allow_private_replay
        )
    for field, value in changes.items():
        setattr(agent, field, value)
    agent.updated_at = utcnow()
    await _flush_unique_slug(session, agent.slug)
    read = _agent_read(agent)
    await record_audit(
        session,
        principal,
        workspace_id,
        action="agent.update",
        resource_type="agent",
        resource_id=agent.id,
        before=before,
        after=read.model_dump(mode="json"),
    )
    return read


async def delete_agent(session: AsyncSession, principal: Principal, agent_id: uuid.UUID) -> None:
    workspace_id = workspace_of(principal)
    agent = await _require_agent(session, workspace_id, agent_id, lock=True)
    before = _agent_read(agent).model_dump(mode="json")
    await session.delete(agent)
    await session.flush()
    await record_audit(
        session,
        principal,
        workspace_id,
        action="agent.delete",
        resource_type="agent",
        resource_id=agent_id,
        before=before,
    )


# --- managed templates ---------------------------------------------------------------------------


async def _latest_template_version(session: AsyncSession, template: AgentTemplate) -> AgentTemplateVersion:
    version = await repository.get_template_version(
        session, template.workspace_id, template.id, template.latest_version
    )
    assert version is not None, "a template always has its latest version"
    return version


async def _save_text(
    session: AsyncSession, principal: Principal, agent: Agent, name: str, text: str, source: str
) -> tuple[AgentTemplate, AgentTemplateVersion, bool]:
    """(template, its version holding `text`, whether a version was created). Unchanged text
    creates nothing: a version is a change."""
    template = await repository.get_template(session, agent.workspace_id, agent.id, name)
    if template is None:
        template = AgentTemplate(
            workspace_id=agent.workspace_id, agent_id=agent.id, name=name, latest_version=1
        )
        session.add(template)
        number = 1
    else:
        latest = await _latest_template_version(session, template)
        if latest.text == text:
            return template, latest, False
        number = template.latest_version + 1
        template.latest_version = number
        template.updated_at = utcnow()
    version = AgentTemplateVersion(
        workspace_id=agent.workspace_id,
        template_id=template.id,
        version=number,
        text=text,
        variables=declared_variables(text),
        source=source,
        created_by=principal.actor,
    )
    session.add(version)
    await session.flush()
    await record_audit(
        session,
        principal,
        agent.workspace_id,
        action="agent.template.version.create",
        resource_type="agent_template",
        resource_id=template.id,
        after={"agent_id": str(agent.id), "name": name, "version": number, "source": source},
    )
    return template, version, True


def _template_read(template: AgentTemplate, latest: AgentTemplateVersion) -> TemplateRead:
    return TemplateRead(
        name=template.name,
        version=latest.version,
        text=latest.text,
        variables=list(latest.variables),
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


def _template_version_read(name: str, version: AgentTemplateVersion) -> TemplateVersionRead:
    return TemplateVersionRead(
        name=name,
        version=version.version,
        text=version.text,
        variables=list(version.variables),
        source=version.source,
        created_by=version.created_by,
        created_at=version.created_at,
    )


async def _require_template(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, name: str
) -> AgentTemplate:
    await _require_agent(session, workspace_id, agent_id)
    template = await repository.get_template(session, workspace_id, agent_id, name)
    if template is None:
        raise NotFoundError(f"Template {name!r} of agent {agent_id} not found")
    return template


async def create_template(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, body: TemplateCreate
) -> TemplateRead:
    workspace_id = workspace_of(principal)
    agent = await _require_agent(session, workspace_id, agent_id, lock=True)
    if await repository.get_template(session, workspace_id, agent_id, body.name) is not None:
        raise ConflictError(f"Agent {agent_id} already has a template named {body.name!r}")
    template, version, _ = await _save_text(
        session, principal, agent, body.name, body.text, TEMPLATE_SOURCE_MANUAL
    )
    return _template_read(template, version)


async def save_template_text(
    session: AsyncSession,
    principal: Principal,
    agent_id: uuid.UUID,
    name: str,
    text: str,
    *,
    source: str = TEMPLATE_SOURCE_MANUAL,
) -> TemplateVersionRead:
    """Store `text` as the template's next version (creating the template when new)."""
    agent = await _require_agent(session, workspace_of(principal), agent_id, lock=True)
    _, version, _ = await _save_text(session, principal, agent, name, text, source)
    return _template_version_read(name, version)


async def put_template(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, name: str, body: TemplateUpdate
) -> TemplateRead:
    agent = await _require_agent(session, workspace_of(principal), agent_id, lock=True)
    template, version, _ = await _save_text(
        session, principal, agent, name, body.text, TEMPLATE_SOURCE_MANUAL
    )
    return _template_read(template, version)


async def get_template(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, name: str
) -> TemplateRead:
    template = await _require_template(session, workspace_of(principal), agent_id, name)
    return _template_read(template, await _latest_template_version(session, template))


async def list_templates(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, page: PageParams
) -> Page[TemplateRead]:
    workspace_id = workspace_of(principal)
    await _require_agent(session, workspace_id, agent_id)
    rows, total = await repository.list_templates(session, workspace_id, agent_id, page)
    texts = await repository.template_texts(
        session, workspace_id, agent_id, [(t.name, t.latest_version) for t in rows]
    )
    results = [
        TemplateRead(
            name=t.name,
            version=t.latest_version,
            text=texts[(t.name, t.latest_version)],
            variables=declared_variables(texts[(t.name, t.latest_version)]),
            created_at=t.created_at,
            updated_at=t.updated_at,
        )
        for t in rows
    ]
    return Page.of(results, total=total, params=page)


async def list_template_versions(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, name: str, page: PageParams
) -> Page[TemplateVersionRead]:
    workspace_id = workspace_of(principal)
    template = await _require_template(session, workspace_id, agent_id, name)
    rows, total = await repository.list_template_versions(session, workspace_id, template.id, page)
    return Page.of([_template_version_read(name, row) for row in rows], total=total, params=page)


async def render_template(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, name: str, body: TemplateRender
) -> RenderedTemplate:
    workspace_id = workspace_of(principal)
    template = await _require_template(session, workspace_id, agent_id, name)
    number = body.version or template.latest_version
    version = await repository.get_template_version(session, workspace_id, template.id, number)
    if version is None:
        raise NotFoundError(f"Version {number} of template {name!r} not found")
    try:
        text = render(version.text, body.variables)
    except MissingVariablesError as exc:
        raise ValidationFailedError(
            f"Template {name!r} v{number} declares variables that were not given",
            errors=[
                {
                    "loc": ["body", "variables", variable],
                    "msg": "declared by the template but missing",
                    "type": "missing",
                }
                for variable in exc.missing
            ],
        ) from exc
    except RenderedTooLongError as exc:
        raise ValidationFailedError(
            f"Template {name!r} v{number} rendered with these variables is too long",
            errors=[{"loc": ["body", "variables"], "msg": str(exc), "type": "too_long"}],
        ) from exc
    return RenderedTemplate(name=name, version=number, text=text)


# --- config versions -----------------------------------------------------------------------------


def _runtime_body(agent_id: uuid.UUID, number: int, resolved: dict[str, Any]) -> dict[str, Any]:
    """The runtime config document (`schemas.RuntimeConfig`) as stored on the agent row."""
    return {"agent_id": str(agent_id), "version": number, **resolved}


def _activate(agent: Agent, version: AgentConfigVersion) -> None:
    """The only writer of the agent's active version and its denormalised runtime config."""
    agent.active_version_number = version.number
    agent.active_config = _runtime_body(agent.id, version.number, version.resolved)
    agent.active_etag = version.etag
    agent.updated_at = utcnow()


async def _new_version(
    session: AsyncSession,
    principal: Principal,
    agent: Agent,
    body: ConfigBody,
    *,
    note: str | None,
    activate: bool,
    write_templates: bool = True,
) -> AgentConfigVersion:
    """A new numbered version; `agent` must be locked (numbers are allocated under the lock).

    The version carries its templates' text either way. `write_templates` also makes that text the
    managed templates' heads; without it (a change set's accept) only texts a head already holds
    are referenced, and the heads move when the change set is applied."""
    number = await repository.latest_version_number(session, agent.workspace_id, agent.id) + 1
    refs: dict[str, int] = {}
    for name, text in sorted(body.templates.items()):
        if write_templates:
            _, template_version, _ = await _save_text(
                session, principal, agent, name, text, TEMPLATE_SOURCE_CONFIG
            )
            refs[name] = template_version.version
            continue
        template = await repository.get_template(session, agent.workspace_id, agent.id, name)
        if template is not None:
            head = await _latest_template_version(session, template)
            if head.text == text:
                refs[name] = head.version
    params = body.params_dict()
    resolved = {
        "model": body.model,
        "params": params,
        "templates": dict(sorted(body.templates.items())),
        "tools": body.tools,
    }
    version = AgentConfigVersion(
        workspace_id=agent.workspace_id,
        agent_id=agent.id,
        number=number,
        model=body.model,
        params=params,
        tools=body.tools,
        template_refs=refs,
        resolved=resolved,
        etag=content_hash(_runtime_body(agent.id, number, resolved)),
        note=note,
        created_by=principal.actor,
    )
    session.add(version)
    if activate:
        _activate(agent, version)
    await session.flush()
    await record_audit(
        session,
        principal,
        agent.workspace_id,
        action="agent.version.create",
        resource_type="agent",
        resource_id=agent.id,
        after={"version": number, "etag": version.etag, "active": activate},
    )
    return version


def _version_read(agent: Agent, version: AgentConfigVersion) -> ConfigVersionRead:
    return ConfigVersionRead(
        agent_id=agent.id,
        number=version.number,
        active=agent.active_version_number == version.number,
        config=dict(version.resolved),
        template_versions=dict(version.template_refs),
        etag=version.etag,
        note=version.note,
        created_by=version.created_by,
        created_at=version.created_at,
    )


async def create_version(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, body: ConfigVersionCreate
) -> ConfigVersionRead:
    """A new immutable version. The agent's first version is active at once (nothing runs yet);
    later ones wait for `promote`, which needs `approve:agents`."""
    agent = await _require_agent(session, workspace_of(principal), agent_id, lock=True)
    version = await _new_version(
        session, principal, agent, body, note=body.note, activate=agent.active_version_number is None
    )
    return _version_read(agent, version)


async def create_version_from_config(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, config: AgentConfig, *, note: str
) -> ConfigVersionRead:
    """Store an engine config (e.g. a change set's candidate) as a new, inactive version; the
    managed templates' heads stay where they are (`link_template_versions` records them later)."""
    try:
        body = ConfigVersionCreate.model_validate({**config.to_dict(), "note": note})
    except ValidationError as exc:
        raise ValidationFailedError(
            "The candidate config is not a valid agent config",
            errors=[
                {"loc": ["config", *err["loc"]], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors()
            ],
        ) from exc
    agent = await _require_agent(session, workspace_of(principal), agent_id, lock=True)
    version = await _new_version(
        session, principal, agent, body, note=note, activate=False, write_templates=False
    )
    return _version_read(agent, version)


async def link_template_versions(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, number: int, refs: dict[str, int]
) -> None:
    """Record on config version `number` the template versions that now hold its texts (a change
    set's apply wrote them); the version's content and ETag do not change."""
    workspace_id = workspace_of(principal)
    version = await repository.get_version(session, workspace_id, agent_id, number)
    if version is None:
        raise NotFoundError(f"Version {number} of agent {agent_id} not found")
    version.template_refs = {**version.template_refs, **refs}
    session.add(version)
    await session.flush()


async def promote(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, number: int
) -> ConfigVersionRead:
    """Make version `number` the active one (idempotent)."""
    workspace_id = workspace_of(principal)
    agent = await _require_agent(session, workspace_id, agent_id, lock=True)
    version = await repository.get_version(session, workspace_id, agent_id, number)
    if version is None:
        raise NotFoundError(f"Version {number} of agent {agent_id} not found")
    previous = agent.active_version_number
    if previous != number:
        _activate(agent, version)
        await session.flush()
        await record_audit(
            session,
            principal,
            workspace_id,
            action="agent.version.promote",
            resource_type="agent",
            resource_id=agent.id,
            before={"active_version": previous},
            after={"active_version": number, "etag": version.etag},
        )
    return _version_read(agent, version)


async def get_version(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, number: int
) -> ConfigVersionRead:
    workspace_id = workspace_of(principal)
    agent = await _require_agent(session, workspace_id, agent_id)
    version = await repository.get_version(session, workspace_id, agent_id, number)
    if version is None:
        raise NotFoundError(f"Version {number} of agent {agent_id} not found")
    return _version_read(agent, version)


async def list_versions(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, page: PageParams
) -> Page[ConfigVersionRead]:
    workspace_id = workspace_of(principal)
    agent = await _require_agent(session, workspace_id, agent_id)
    rows, total = await repository.list_versions(session, workspace_id, agent_id, page)
    return Page.of([_version_read(agent, row) for row in rows], total=total, params=page)


@dataclass(frozen=True, slots=True)
class RuntimeDocument:
    """The runtime config as served: its JSON bytes and its ETag (quoted, as in the header)."""

    body: bytes
    etag: str


# (workspace, agent) -> its runtime document, per process (`shared.read_cache`: a promote, a
# rollback or the agent's deletion invalidates it in every process).
RuntimeCache = ReadCache[tuple[uuid.UUID, uuid.UUID], RuntimeDocument]


async def runtime_config(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID
) -> tuple[dict[str, Any], str]:
    """(the runtime config document, its ETag) from the agent row alone."""
    exists, config, etag = await repository.runtime_config(session, workspace_of(principal), agent_id)
    if not exists:
        raise NotFoundError.for_resource("Agent", agent_id)
    if config is None or etag is None:
        raise NoActiveConfigError(f"Agent {agent_id} has no active config version")
    return config, etag


async def runtime_document(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, cache: RuntimeCache | None = None
) -> RuntimeDocument:
    """The runtime config as an agent fetches it, from the cache when it holds it: the hot path."""
    key = (workspace_of(principal), agent_id)
    cached = cache.get(key) if cache is not None else None
    if cached is not None:
        return cached
    token = cache.fill_token() if cache is not None else 0
    config, etag = await runtime_config(session, principal, agent_id)
    document = RuntimeDocument(
        body=json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode(), etag=f'"{etag}"'
    )
    if cache is not None:
        cache.put(key, (key[0],), document, token)
    return document


def _as_uuid(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class AgentDirectory:
    """A workspace's agents as ingest and trace filters name them: by slug or by id, and the
    sample rate of those that score online."""

    by_slug: dict[str, uuid.UUID]
    ids: frozenset[uuid.UUID]
    online_rates: dict[uuid.UUID, float]

    def resolve(self, keys: Iterable[str]) -> dict[str, uuid.UUID]:
        """Each key (an agent's slug, else its id in any form `uuid.UUID` reads) mapped to the
        agent; unknown keys are absent."""
        resolved: dict[str, uuid.UUID] = {}
        for key in keys:
            agent_id = self.by_slug.get(key)
            if agent_id is None and (parsed := _as_uuid(key)) in self.ids:
                agent_id = parsed
            if agent_id is not None:
                resolved[key] = agent_id
        return resolved

    @property
    def scores_online(self) -> bool:
        return bool(self.online_rates)


# workspace -> its agent directory, per process (`shared.read_cache`: an agent created, renamed or
# deleted, or its online rubric or rate changed, invalidates it in every process). Ingest reads it
# on every request: one workspace's agents are few, and a key that names no agent (traces sent
# before their agent exists) must not cost a query either.
DirectoryCache = ReadCache[uuid.UUID, AgentDirectory]


async def agent_directory(
    session: AsyncSession, workspace_id: uuid.UUID, cache: DirectoryCache | None = None
) -> AgentDirectory:
    cached = cache.get(workspace_id) if cache is not None else None
    if cached is not None:
        return cached
    token = cache.fill_token() if cache is not None else 0
    rows = await repository.directory_rows(session, workspace_id)
    directory = AgentDirectory(
        by_slug={slug: agent_id for agent_id, slug, _, _ in rows},
        ids=frozenset(agent_id for agent_id, _, _, _ in rows),
        online_rates={agent_id: rate for agent_id, _, rubric_id, rate in rows if rubric_id is not None},
    )
    if cache is not None:
        cache.put(workspace_id, (workspace_id,), directory, token)
    return directory


async def active_config(session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID) -> AgentConfig:
    """The agent's active config as the engine's `AgentConfig` (what a scan optimises)."""
    agent = await _require_agent(session, workspace_id, agent_id)
    if agent.active_config is None:
        raise NoActiveConfigError(f"Agent {agent_id} has no active config version")
    return AgentConfig.from_dict(agent.active_config)


async def version_config(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID, number: int
) -> AgentConfig:
    version = await repository.get_version(session, workspace_id, agent_id, number)
    if version is None:
        raise NotFoundError(f"Version {number} of agent {agent_id} not found")
    return AgentConfig.from_dict(version.resolved)
