"""Request and response shapes of the Auth, Accounts and Keys groups."""

from __future__ import annotations

import uuid
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from spectral.platform.identity.password_policy import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_new_password,
)
from spectral.platform.identity.scopes import API_KEY_SCOPES, AccountRole, Scope, WorkspaceRole
from spectral.platform.shared.clock import UtcDateTime
from spectral.platform.shared.schema_types import IsoDateTime

# A new password (see password_policy): long enough to matter, short enough not to be a DoS on
# argon2, not a common one. The minimum is checked by the validator, whose message names it.
Password = Annotated[
    str,
    Field(max_length=MAX_PASSWORD_LENGTH, json_schema_extra={"minLength": MIN_PASSWORD_LENGTH}),
    AfterValidator(check_new_password),
]
# A password given to prove who one is: checked against the stored hash, never against policy.
CurrentPassword = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

# SQLite hands back naive datetimes; the API always answers in RFC 3339 UTC.


class RegisterRequest(BaseModel):
    email: EmailStr
    password: Password
    tenant_name: Name | None = Field(default=None, description="required unless joining with an invite")
    invite_token: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _tenant_or_invite(self) -> Self:
        if self.tenant_name is None and self.invite_token is None:
            raise ValueError("tenant_name is required unless an invite_token is given")
        return self


class RegisterResponse(BaseModel):
    user_id: uuid.UUID
    account_id: uuid.UUID
    workspace_id: uuid.UUID | None
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class LoginRequest(BaseModel):
    email: EmailStr
    password: CurrentPassword


class WorkspaceMembershipRead(BaseModel):
    id: uuid.UUID
    name: str
    account_id: uuid.UUID
    role: WorkspaceRole
    scopes: list[Scope]


class AccountMembershipRead(BaseModel):
    id: uuid.UUID
    name: str
    role: AccountRole
    is_operations: bool


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user_id: uuid.UUID
    account_id: uuid.UUID | None
    workspaces: list[WorkspaceMembershipRead]


class MeRead(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str | None
    created_at: UtcDateTime
    accounts: list[AccountMembershipRead]
    workspaces: list[WorkspaceMembershipRead]
    # Scopes that do not depend on a workspace (admin:account, operations).
    scopes: list[Scope]


class MeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    email: EmailStr | None = None
    current_password: CurrentPassword | None = Field(default=None, description="required to change the email")


class PasswordChange(BaseModel):
    current_password: CurrentPassword
    new_password: Password


class ApiKeyCreate(BaseModel):
    name: Name
    scopes: list[Scope] = Field(default_factory=lambda: sorted(API_KEY_SCOPES))
    expires_at: IsoDateTime | None = None

    @model_validator(mode="after")
    def _only_key_scopes(self) -> Self:
        extra = sorted(set(self.scopes) - API_KEY_SCOPES)
        if extra:
            raise ValueError(f"API keys may only carry read:agents and write:traces, not {', '.join(extra)}")
        if not self.scopes:
            raise ValueError("an API key needs at least one scope")
        return self


class ApiKeyRead(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    expires_at: UtcDateTime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="the secret; shown only in this response")
    key_id: uuid.UUID


class PasswordResetRequest(BaseModel):
    email: EmailStr


class PasswordResetConfirm(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=200)]
    new_password: Password


class InviteAccept(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class OAuthCallback(BaseModel):
    provider: Annotated[str, Field(min_length=1, max_length=40)]
    code: Annotated[str, Field(min_length=1, max_length=2000)]
    state: Annotated[str, Field(min_length=1, max_length=200)]
