"""Identity fixtures shared by every API test: registered tenants, tokens and API keys.

- `tenant`: a user registered through the API, owner of an account with one workspace:
  `.token`, `.headers`, `.workspace_id`, `.account_id`, `.user_id`, `.email`, `.password`,
  `await .api_key(scopes=[...])` -> "sk_live_…", `await .member(role)` -> headers of another user
  holding that workspace role (and a plain account membership).
- `other_tenant`: a second, unrelated tenant (for "another tenant's resource is 404" tests).

Hashing uses the test environment's cheap argon2 parameters (see `Settings.argon2_overrides`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from spectral.platform.identity.models import AccountMember, User, WorkspaceMember
from spectral.platform.identity.scopes import AccountRole, Scope, WorkspaceRole
from spectral_api.state import AppState

TEST_PASSWORD = "correct horse battery staple"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(slots=True)
class Tenant:
    client: httpx.AsyncClient
    state: AppState
    email: str
    password: str
    token: str
    user_id: uuid.UUID
    account_id: uuid.UUID
    workspace_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    @property
    def ws(self) -> str:
        """The workspace's URL prefix: `/api/v1/workspaces/{workspace_id}`."""
        return f"/api/v1/workspaces/{self.workspace_id}"

    async def api_key(self, scopes: Sequence[Scope | str] | None = None, *, name: str = "test key") -> str:
        body: dict[str, object] = {"name": name}
        if scopes is not None:
            body["scopes"] = [str(s) for s in scopes]
        response = await self.client.post(f"{self.ws}/keys", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key

    async def member(
        self, role: WorkspaceRole | str, *, account_role: AccountRole = AccountRole.MEMBER
    ) -> dict[str, str]:
        """Headers of a new user in this account holding `role` in this workspace."""
        async with self.state.db.session() as session:
            user = User(
                email=f"member-{uuid.uuid4().hex[:12]}@example.com",
                password_hash=await self.state.passwords.hash(TEST_PASSWORD),
            )
            session.add(user)
            await session.flush()
            session.add(AccountMember(account_id=self.account_id, user_id=user.id, role=account_role.value))
            await session.flush()
            session.add(
                WorkspaceMember(
                    workspace_id=self.workspace_id, user_id=user.id, role=WorkspaceRole(role).value
                )
            )
        return bearer(self.state.tokens.issue(user.id, generation=0).token)


async def register_tenant(client: httpx.AsyncClient, app: FastAPI, name: str = "Acme") -> Tenant:
    email = f"owner-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": TEST_PASSWORD, "tenant_name": name}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Tenant(
        client=client,
        state=app.state.spectral,
        email=email,
        password=TEST_PASSWORD,
        token=body["access_token"],
        user_id=uuid.UUID(body["user_id"]),
        account_id=uuid.UUID(body["account_id"]),
        workspace_id=uuid.UUID(body["workspace_id"]),
    )


@pytest.fixture
async def tenant(client: httpx.AsyncClient, app: FastAPI) -> Tenant:
    return await register_tenant(client, app, "Acme")


@pytest.fixture
async def other_tenant(client: httpx.AsyncClient, app: FastAPI) -> Tenant:
    return await register_tenant(client, app, "Globex")
