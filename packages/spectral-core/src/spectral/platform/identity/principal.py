"""Who is calling: a user (JWT) or a workspace-bound API key, with the scopes resolved for this request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from spectral.platform.identity.scopes import Scope


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    account_id: uuid.UUID | None
    scopes: frozenset[Scope]
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    # The workspace this request acts in: from the path for users, fixed for an API key.
    workspace_id: uuid.UUID | None = None
    token_id: str | None = None

    @property
    def actor(self) -> str:
        """How audit logs name this principal."""
        if self.kind is PrincipalKind.API_KEY:
            return f"api_key:{self.api_key_id}"
        if self.kind is PrincipalKind.SUPERVISOR:
            return "supervisor"
        return f"user:{self.user_id}"

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes

    @classmethod
    def supervisor(cls, workspace_id: uuid.UUID, account_id: uuid.UUID | None) -> Principal:
        """The scan acting under workspace autonomy (`auto_apply`) within its guardrails."""
        return cls(
            kind=PrincipalKind.SUPERVISOR,
            account_id=account_id,
            scopes=frozenset({Scope.READ_WORKSPACE, Scope.WRITE_WORKSPACE, Scope.APPROVE_AGENTS}),
            workspace_id=workspace_id,
        )
