"""Template inference use case: read an agent's LLM span prompts and mine their templates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.agents import repository as agents_repository
from spectral.platform.agents import service as agents_service
from spectral.platform.evaluations.scoring_pool import ScoringPool
from spectral.platform.identity.access import missing_scopes_error
from spectral.platform.identity.principal import Principal, PrincipalKind
from spectral.platform.identity.scopes import Scope
from spectral.platform.inference.miner import MinedTemplate, mine_templates
from spectral.platform.inference.schemas import (
    InferenceResult,
    InferredSlot,
    InferredTemplate,
    InferTemplateRequest,
    PromptWindow,
)
from spectral.platform.shared.errors import NotFoundError
from spectral.platform.traces.queries import llm_prompts
from spectral.platform.traces.repository import LlmSpanPrompt

TEMPLATE_SOURCE_INFERENCE = "inference"
PLAIN_PROMPT = "prompt"


def prompt_texts(prompts: Sequence[LlmSpanPrompt]) -> dict[str, list[str]]:
    """The texts to mine per role: a chat prompt's first system message and its last user message
    (the turn being answered), or the plain input text of a completion span."""
    by_role: dict[str, list[str]] = {}
    for prompt in prompts:
        if prompt.messages:
            system = next((m for m in prompt.messages if m.get("role") == "system"), None)
            user = next((m for m in reversed(prompt.messages) if m.get("role") == "user"), None)
            for role, message in (("system", system), ("user", user)):
                if message is not None and isinstance(message.get("content"), str):
                    by_role.setdefault(role, []).append(message["content"])
        elif prompt.input_text:
            by_role.setdefault(PLAIN_PROMPT, []).append(prompt.input_text)
    return by_role


def _inferred(name: str, template: MinedTemplate) -> InferredTemplate:
    return InferredTemplate(
        name=name,
        text=template.text,
        slots=[
            InferredSlot(
                name=s.name, kind=s.kind, examples=list(s.examples), distinct_values=s.distinct_values
            )
            for s in template.slots
        ],
        matched=template.matched,
        coverage=round(template.coverage, 6),
    )


async def infer_template(
    session: AsyncSession,
    principal: Principal,
    agent_id: uuid.UUID,
    body: InferTemplateRequest,
    window: PromptWindow | None = None,
    *,
    scoring: ScoringPool,
) -> InferenceResult:
    """Infer from the agent's most recent LLM prompts (within `window`: a scan's, resolved by the
    caller). Reading needs `read:workspace`; `save` writes templates and needs `write:workspace`."""
    if body.save and not principal.has(Scope.WRITE_WORKSPACE):
        raise missing_scopes_error(
            [Scope.WRITE_WORKSPACE.value],
            api_key=principal.kind is PrincipalKind.API_KEY,
            needed_for='"save": true',
        )
    workspace_id = agents_service.workspace_of(principal)
    agent = await agents_repository.get_agent(session, workspace_id, agent_id)
    if agent is None:
        raise NotFoundError.for_resource("Agent", agent_id)
    window = window or PromptWindow()
    prompts = await llm_prompts(
        session,
        workspace_id,
        agent_id=agent.id,
        agent_slug=agent.slug,
        span_name=body.span_name,
        start=window.start,
        end=window.end,
        limit=body.limit,
    )
    by_role = sorted(prompt_texts(prompts).items())
    # Mining is CPU-bound for seconds on prompts that share little: off the event loop, which
    # would otherwise stall every tenant's requests, and within the scoring time limit.
    mined_by_role = await scoring.run(
        lambda checkpoint: [(role, mine_templates(texts, checkpoint=checkpoint)) for role, texts in by_role],
        what="Inferring a template",
        hint="read fewer prompts (limit), only one span name, or try again later",
    )
    best: list[InferredTemplate] = []
    alternatives: list[InferredTemplate] = []
    for role, mined in mined_by_role:
        if not mined:
            continue
        top = _inferred(role, mined[0])
        if body.save:
            saved = await agents_service.save_template_text(
                session, principal, agent.id, role, mined[0].text, source=TEMPLATE_SOURCE_INFERENCE
            )
            top.saved_version = saved.version
        best.append(top)
        alternatives.extend(_inferred(role, template) for template in mined[1:])
    return InferenceResult(
        agent_id=agent.id,
        scan_id=body.scan_id,
        span_name=body.span_name,
        prompts_analysed=len(prompts),
        templates=best,
        alternatives=alternatives,
    )
