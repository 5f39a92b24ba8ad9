"""Identity tables: users, accounts (tenants), workspaces, memberships, API keys and the
short-lived credentials around them (revoked tokens, password resets, invites, OAuth state).

Every secret that arrives from outside (API key, reset token, invite token, OAuth state) is
stored only as its SHA-256 digest, so a database leak does not leak a usable credential.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from spectral.platform.shared.clock import utcnow
from spectral.platform.shared.db import json_column, utc_column
from spectral.platform.shared.ids import new_id
from spectral.platform.shared.read_cache import watch


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # Stored lower-cased: addresses compare case-insensitively.
    email: str = Field(max_length=320, unique=True)
    # None for users who only ever signed in through OAuth.
    password_hash: str | None = Field(default=None, max_length=512)
    display_name: str | None = Field(default=None, max_length=200)
    is_active: bool = True
    # Bumped by a password reset or change: every token minted before carries an older value.
    token_generation: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200)
    # The platform's own operations account (created by `spectral-admin create-operator`).
    is_operations: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class AccountMember(SQLModel, table=True):
    __tablename__ = "account_members"

    account_id: uuid.UUID = Field(foreign_key="accounts.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, index=True, ondelete="CASCADE")
    role: str = Field(max_length=20)
    # Only in the operations account: which operations scopes the staff member holds.
    operations_role: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    # Soft delete: other contexts' rows keep pointing at the workspace, but it resolves as 404.
    deleted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class WorkspaceMember(SQLModel, table=True):
    __tablename__ = "workspace_members"

    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, index=True, ondelete="CASCADE")
    role: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workspace_id: uuid.UUID = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    prefix: str = Field(max_length=32, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(sa_column=json_column())
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    last_used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class RevokedToken(SQLModel, table=True):
    """A logged-out JWT, kept until it would have expired anyway (without Redis)."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=utc_column(index=True))


class PasswordReset(SQLModel, table=True):
    __tablename__ = "password_resets"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Invite(SQLModel, table=True):
    __tablename__ = "invites"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=320)
    role: str = Field(max_length=20)
    # {workspace_id: workspace role} granted on acceptance.
    workspace_roles: dict[str, str] = Field(sa_column=json_column())
    token_hash: str = Field(max_length=64, unique=True)
    invited_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    accepted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    accepted_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class MailMessage(SQLModel, table=True):
    """The outbox: mail is written in the request's transaction and sent after it commits.

    A one-time token (reset, invite) is never part of the stored body, which holds a placeholder
    instead: the token sits in `secret` only until the mail is sent or the token expires, so
    the outbox does not keep a usable credential any longer than delivery needs it."""

    __tablename__ = "mail_outbox"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    secret: str | None = Field(default=None, max_length=200)
    secret_expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True, index=True))
    # What the message is about (password_reset, invite), for tests and operators.
    kind: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(index=True))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)


class OAuthIdentity(SQLModel, table=True):
    __tablename__ = "oauth_identities"
    __table_args__ = (sa.UniqueConstraint("provider", "subject"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    provider: str = Field(max_length=40)
    subject: str = Field(max_length=255)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    email: str | None = Field(default=None, max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class OAuthState(SQLModel, table=True):
    """A pending OAuth sign-in: the PKCE verifier stays on the server, the browser only sees `state`."""

    __tablename__ = "oauth_states"

    state_hash: str = Field(primary_key=True, max_length=64)
    provider: str = Field(max_length=40)
    code_verifier: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column(index=True))


# What the API-key and user-token caches (`access.resolve_principal`) depend on, seen by every
# process's cache (see `shared.read_cache`). Per workspace: a key revoked, expiring or re-scoped,
# a workspace deleted or moved. Per user (a user's grants span workspaces and accounts): the user
# deactivated or their tokens outlived (password change or reset), a membership granted, changed
# or removed. A logout is marked by `service.logout` (the revoked token's row names no user).
watch(ApiKey, columns=("key_hash", "scopes", "revoked_at", "expires_at"), owner=lambda key: key.workspace_id)
watch(Workspace, columns=("deleted_at", "account_id"), owner=lambda workspace: workspace.id)
watch(User, columns=("is_active", "token_generation"), owner=lambda user: user.id)
watch(AccountMember, columns=("role", "operations_role"), owner=lambda member: member.user_id, inserts=True)
watch(WorkspaceMember, columns=("role",), owner=lambda member: member.user_id, inserts=True)
