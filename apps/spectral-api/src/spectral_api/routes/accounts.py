"""Accounts: the caller's account, its members and invites (admin:account to change)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from spectral.platform.identity.schemas import InviteAccept
from spectral.platform.shared.pagination import Page
from spectral.platform.workspaces import accounts
from spectral.platform.workspaces.schemas import (
    AccountMemberUpdate,
    AccountRead,
    AccountUpdate,
    InviteAccepted,
    InviteCreate,
    InviteRead,
    MemberRead,
)
from spectral_api.auth import AccountAdmin, CurrentUser
from spectral_api.dependencies import AppStateDep, DbSession, Pagination
from spectral_api.problems import problem_responses

router = APIRouter(prefix="/api/v1/account", tags=["Accounts"])


@router.get("", responses=problem_responses(401, 403, 404), summary="The caller's account")
async def get_account(principal: CurrentUser, session: DbSession) -> AccountRead:
    return await accounts.get(session, principal)


@router.patch("", responses=problem_responses(401, 403, 422), summary="Rename the account")
async def update_account(principal: AccountAdmin, body: AccountUpdate, session: DbSession) -> AccountRead:
    return await accounts.update(session, principal, body)


@router.get("/members", responses=problem_responses(401, 403, 404), summary="Members of the account")
async def list_members(principal: CurrentUser, session: DbSession, page: Pagination) -> Page[MemberRead]:
    return await accounts.list_members(session, principal, page)


@router.patch(
    "/members/{user_id}",
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Change a member's account role (the last owner stays owner)",
)
async def update_member(
    user_id: uuid.UUID, body: AccountMemberUpdate, principal: AccountAdmin, session: DbSession
) -> MemberRead:
    return await accounts.update_member(session, principal, user_id, body)


@router.delete(
    "/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 401, 403, 404),
    summary="Remove a member from the account and its workspaces (never the last owner)",
)
async def remove_member(user_id: uuid.UUID, principal: AccountAdmin, session: DbSession) -> None:
    await accounts.remove_member(session, principal, user_id)


@router.post(
    "/invites",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 409, 422),
    summary="Invite someone by email (the token is mailed, valid 7 days)",
)
async def create_invite(
    body: InviteCreate, principal: AccountAdmin, session: DbSession, state: AppStateDep, response: Response
) -> InviteRead:
    invite = await accounts.create_invite(session, principal, body, public_url=state.settings.public_url)
    response.headers["Location"] = f"/api/v1/account/invites/{invite.id}"
    return invite


@router.get("/invites", responses=problem_responses(401, 403), summary="Pending invites")
async def list_invites(principal: AccountAdmin, session: DbSession, page: Pagination) -> Page[InviteRead]:
    return await accounts.list_invites(session, principal, page)


@router.delete(
    "/invites/{invite_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
    summary="Revoke a pending invite",
)
async def revoke_invite(invite_id: uuid.UUID, principal: AccountAdmin, session: DbSession) -> None:
    await accounts.revoke_invite(session, principal, invite_id)


@router.post(
    "/invites/accept",
    responses=problem_responses(400, 401, 403, 409, 422),
    summary="Accept an invite as the logged-in user it was sent to",
)
async def accept_invite(body: InviteAccept, principal: CurrentUser, session: DbSession) -> InviteAccepted:
    return await accounts.accept_invite(session, principal, body)
