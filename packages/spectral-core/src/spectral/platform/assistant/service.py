"""The assistant's use cases: conversations, messages (answered by a planner), and approvals.

A message is answered by the model planner when a model is configured (and the gateway answers),
else by the offline planner; both return the same shape. Actions either proposes become approvals
here, and only `approve` — by a person holding the action's scope, before it expires — performs
one, through the same service function its REST route calls, as the approver.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.engine.errors import BudgetExhausted
from spectral.platform.assistant import repository
from spectral.platform.assistant.errors import ApprovalExpiredError
from spectral.platform.assistant.model_planner import ModelLimits, ModelPlanner
from spectral.platform.assistant.models import Approval, ApprovalStatus, Conversation, Message, MessageRole
from spectral.platform.assistant.planner import OfflinePlanner, PlanResult
from spectral.platform.assistant.schemas import (
    ApprovalRead,
    ConversationCreate,
    ConversationDetail,
    ConversationRead,
    MessageCreate,
    MessageRead,
    ReplyRead,
)
from spectral.platform.assistant.tools import ACTION_TOOLS, ToolContext, require
from spectral.platform.identity.principal import Principal
from spectral.platform.identity.scopes import Scope
from spectral.platform.models.errors import GatewayError
from spectral.platform.models.gateway import ModelGateway
from spectral.platform.models.models import ModelRole
from spectral.platform.shared.clock import as_utc, utcnow
from spectral.platform.shared.errors import (
    AuthenticationError,
    DomainError,
    ForbiddenError,
    InvalidTransitionError,
)
from spectral.platform.shared.pagination import Page, PageParams
from spectral.platform.shared.settings import Settings
from spectral.platform.workspaces.audit import record_audit

log = logging.getLogger("spectral.assistant")

# How many earlier messages the model sees with a new one.
HISTORY_MESSAGES = 10
_ACTIONS = {tool.name: tool for tool in ACTION_TOOLS}


def _caller(principal: Principal) -> tuple[uuid.UUID, uuid.UUID]:
    if principal.user_id is None or principal.workspace_id is None:
        raise AuthenticationError("The assistant talks to a signed-in user in a workspace")
    return principal.workspace_id, principal.user_id


def _conversation_read(row: Conversation, settings: Settings) -> ConversationRead:
    return ConversationRead(
        id=row.id,
        workspace_id=row.workspace_id,
        user_id=row.user_id,
        title=row.title,
        tokens_used=row.tokens_used,
        token_budget=settings.assistant_token_budget,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _expired(row: Approval) -> bool:
    return row.status == ApprovalStatus.PENDING and as_utc(row.expires_at) <= utcnow()


def approval_read(row: Approval) -> ApprovalRead:
    return ApprovalRead(
        id=row.id,
        workspace_id=row.workspace_id,
        conversation_id=row.conversation_id,
        message_id=row.message_id,
        requested_by=row.requested_by,
        tool=row.tool,
        summary=row.summary,
        reason=row.reason,
        request=row.request,
        required_scope=row.required_scope,
        status="expired" if _expired(row) else row.status,
        expires_at=as_utc(row.expires_at),
        decided_by=row.decided_by,
        decided_at=None if row.decided_at is None else as_utc(row.decided_at),
        result=row.result,
        created_at=as_utc(row.created_at),
    )


async def create_conversation(
    session: AsyncSession, principal: Principal, body: ConversationCreate, settings: Settings
) -> ConversationRead:
    workspace_id, user_id = _caller(principal)
    row = Conversation(workspace_id=workspace_id, user_id=user_id, title=body.title or "New conversation")
    session.add(row)
    await session.flush()
    return _conversation_read(row, settings)


async def list_conversations(
    session: AsyncSession, principal: Principal, page: PageParams, settings: Settings
) -> Page[ConversationRead]:
    workspace_id, user_id = _caller(principal)
    rows, total = await repository.list_conversations(session, workspace_id, user_id, page)
    return Page.of([_conversation_read(r, settings) for r in rows], total=total, params=page)


async def get_conversation(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    page: PageParams,
    settings: Settings,
) -> ConversationDetail:
    workspace_id, user_id = _caller(principal)
    row = await repository.get_conversation(session, workspace_id, user_id, conversation_id)
    messages, total = await repository.list_messages(session, row.id, page)
    return ConversationDetail(
        **_conversation_read(row, settings).model_dump(),
        messages=Page.of([MessageRead.model_validate(m) for m in messages], total=total, params=page),
    )


async def _assistant_model(gateway: ModelGateway | None, settings: Settings) -> str | None:
    if gateway is None:
        return None
    return settings.assistant_model or await gateway.role_model(ModelRole.PROPOSER)


async def _plan(
    ctx: ToolContext,
    conversation: Conversation,
    text: str,
    settings: Settings,
    gateway: ModelGateway | None,
) -> PlanResult:
    model = await _assistant_model(gateway, settings)
    if gateway is not None and model is not None:
        history = [
            (m.role, m.content)
            for m in await repository.recent_messages(ctx.session, conversation.id, HISTORY_MESSAGES)
        ]
        limits = ModelLimits(
            settings.assistant_token_budget, conversation.tokens_used, settings.assistant_tool_result_chars
        )
        planner = ModelPlanner(ctx, gateway, model, limits)
        try:
            return await planner.plan(history, text)
        except (GatewayError, BudgetExhausted) as exc:
            # The offline planner answers the same questions; the reply says the model was not used.
            log.warning("assistant model unavailable", extra={"model": model, "error": str(exc)})
            offline = await OfflinePlanner(ctx, text).plan()
            offline.tokens = planner.result.tokens
            offline.text = f"(The model {model} is unavailable: {exc}. Answering offline.)\n{offline.text}"
            return offline
    return await OfflinePlanner(ctx, text).plan()


async def post_message(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    body: MessageCreate,
    settings: Settings,
    gateway: ModelGateway | None,
) -> ReplyRead:
    workspace_id, user_id = _caller(principal)
    conversation = await repository.lock_conversation(session, workspace_id, user_id, conversation_id)
    ctx = ToolContext(session, principal, workspace_id)
    result = await _plan(ctx, conversation, body.content, settings, gateway)

    seq = await repository.next_seq(session, conversation.id)
    question = Message(
        conversation_id=conversation.id,
        seq=seq,
        role=MessageRole.USER,
        content=body.content,
        citations=[],
        tool_calls=[],
    )
    answer = Message(
        conversation_id=conversation.id,
        seq=seq + 1,
        role=MessageRole.ASSISTANT,
        content=result.text,
        citations=result.citations,
        tool_calls=result.tool_calls,
        planner=result.planner,
    )
    session.add_all([question, answer])
    await session.flush()

    approvals: list[Approval] = []
    lines: list[str] = []
    for action in result.actions:
        try:
            plan = await action.tool.plan(ctx, action.arguments)
        except DomainError as exc:
            lines.append(f"I could not prepare {action.tool.name}: {exc.detail}.")
            continue
        approval = Approval(
            workspace_id=workspace_id,
            conversation_id=conversation.id,
            message_id=answer.id,
            requested_by=user_id,
            tool=action.tool.name,
            arguments=action.arguments.model_dump(mode="json"),
            summary=plan.summary[:500],
            reason=action.reason,
            request=plan.request,
            required_scope=action.tool.scope.value,
            status=ApprovalStatus.PENDING,
            expires_at=utcnow() + timedelta(minutes=settings.assistant_approval_ttl_minutes),
        )
        session.add(approval)
        await session.flush()
        approvals.append(approval)
        lines.append(
            f"Proposed (approval {approval.id}, needs {approval.required_scope}): {approval.summary}. "
            f"Nothing happens until someone approves it: POST {ctx.ws()}/agent/approvals/{approval.id}/approve."
        )
        answer.citations = [*answer.citations, {"kind": "approval", "id": str(approval.id)}]
    if lines:
        answer.content = "\n".join(part for part in (answer.content, *lines) if part)

    if conversation.title == "New conversation":
        conversation.title = body.content[:200]
    conversation.tokens_used += result.tokens
    conversation.updated_at = utcnow()
    session.add_all([conversation, answer])
    await session.flush()
    return ReplyRead(
        conversation_id=conversation.id,
        message=MessageRead.model_validate(question),
        reply=MessageRead.model_validate(answer),
        approvals=[approval_read(a) for a in approvals],
    )


async def list_approvals(
    session: AsyncSession, principal: Principal, page: PageParams, status: str | None
) -> Page[ApprovalRead]:
    workspace_id, _ = _caller(principal)
    rows, total = await repository.list_approvals(session, workspace_id, page, status=status, now=utcnow())
    return Page.of([approval_read(r) for r in rows], total=total, params=page)


def _ensure_pending(approval: Approval) -> None:
    if approval.status != ApprovalStatus.PENDING:
        raise InvalidTransitionError(f"Approval {approval.id} is already {approval.status}")
    if _expired(approval):
        raise ApprovalExpiredError(
            f"Approval {approval.id} expired at {as_utc(approval.expires_at).isoformat()}; ask the assistant again"
        )


async def approve(session: AsyncSession, principal: Principal, approval_id: uuid.UUID) -> ApprovalRead:
    """Perform the approved request as the approver (their scopes, their name in the audit log)."""
    workspace_id, _ = _caller(principal)
    approval = await repository.get_approval(session, workspace_id, approval_id)
    require(principal, Scope(approval.required_scope))
    _ensure_pending(approval)
    ctx = ToolContext(session, principal, workspace_id)
    result = await _ACTIONS[approval.tool].perform(ctx, approval.arguments, approval.request.get("body"))
    await _decide(session, principal, approval, ApprovalStatus.APPROVED, result)
    return approval_read(approval)


async def deny(session: AsyncSession, principal: Principal, approval_id: uuid.UUID) -> ApprovalRead:
    """Close an approval: its asker may withdraw it, and a holder of its scope may turn it down."""
    workspace_id, user_id = _caller(principal)
    approval = await repository.get_approval(session, workspace_id, approval_id)
    if approval.requested_by != user_id and not principal.has(Scope(approval.required_scope)):
        raise ForbiddenError(
            f"Only the person who asked or a holder of {approval.required_scope} may deny approval {approval.id}"
        )
    _ensure_pending(approval)
    await _decide(session, principal, approval, ApprovalStatus.DENIED, None)
    return approval_read(approval)


async def _decide(
    session: AsyncSession,
    principal: Principal,
    approval: Approval,
    status: ApprovalStatus,
    result: dict[str, object] | None,
) -> None:
    approval.status = status
    approval.decided_by = principal.actor
    approval.decided_at = utcnow()
    approval.result = result
    session.add(approval)
    await session.flush()
    await record_audit(
        session,
        principal,
        approval.workspace_id,
        action=f"assistant.approval.{'approve' if status is ApprovalStatus.APPROVED else 'deny'}",
        resource_type="assistant_approval",
        resource_id=str(approval.id),
        before={"status": ApprovalStatus.PENDING.value},
        after={
            "status": status.value,
            "tool": approval.tool,
            "request": approval.request,
            "on_behalf_of_conversation": str(approval.conversation_id),
            "requested_by": str(approval.requested_by),
            "result": result,
        },
    )
