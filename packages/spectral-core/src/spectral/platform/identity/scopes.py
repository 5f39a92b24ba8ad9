"""Scopes and the roles that grant them (API.md, "Scopes and roles")."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    READ_WORKSPACE = "read:workspace"
    WRITE_WORKSPACE = "write:workspace"
    APPROVE_AGENTS = "approve:agents"
    ADMIN_WORKSPACE = "admin:workspace"
    ADMIN_ACCOUNT = "admin:account"
    READ_AGENTS = "read:agents"
    WRITE_TRACES = "write:traces"
    READ_OPERATIONS = "read:operations"
    WRITE_OPERATIONS = "write:operations"
    ADMIN_OPERATIONS = "admin:operations"
    DELETE_OPERATIONS = "delete:operations"


class WorkspaceRole(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"


class AccountRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


_VIEWER = frozenset({Scope.READ_WORKSPACE, Scope.READ_AGENTS})

WORKSPACE_ROLE_SCOPES: dict[WorkspaceRole, frozenset[Scope]] = {
    WorkspaceRole.VIEWER: _VIEWER,
    WorkspaceRole.EDITOR: _VIEWER | {Scope.WRITE_WORKSPACE, Scope.WRITE_TRACES},
    WorkspaceRole.APPROVER: _VIEWER | {Scope.APPROVE_AGENTS},
    WorkspaceRole.ADMIN: _VIEWER
    | {Scope.WRITE_WORKSPACE, Scope.WRITE_TRACES, Scope.APPROVE_AGENTS, Scope.ADMIN_WORKSPACE},
}

# What an API key may ever carry: it is a workspace-bound machine credential.
API_KEY_SCOPES: frozenset[Scope] = frozenset({Scope.READ_AGENTS, Scope.WRITE_TRACES})


class OperationsRole(StrEnum):
    """A staff member's role in the platform's operations account."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    OWNER = "owner"


_OPS_READ = frozenset({Scope.READ_OPERATIONS})

OPERATIONS_ROLE_SCOPES: dict[OperationsRole, frozenset[Scope]] = {
    OperationsRole.VIEWER: _OPS_READ,
    OperationsRole.OPERATOR: _OPS_READ | {Scope.WRITE_OPERATIONS},
    OperationsRole.ADMIN: _OPS_READ | {Scope.WRITE_OPERATIONS, Scope.ADMIN_OPERATIONS},
    OperationsRole.OWNER: _OPS_READ
    | {Scope.WRITE_OPERATIONS, Scope.ADMIN_OPERATIONS, Scope.DELETE_OPERATIONS},
}

ACCOUNT_ADMIN_ROLES = frozenset({AccountRole.OWNER, AccountRole.ADMIN})


def effective_workspace_role(
    workspace_role: WorkspaceRole | None, account_role: AccountRole | None
) -> WorkspaceRole | None:
    """Account owners and admins are workspace admins everywhere in their account."""
    if account_role in ACCOUNT_ADMIN_ROLES:
        return WorkspaceRole.ADMIN
    return workspace_role
