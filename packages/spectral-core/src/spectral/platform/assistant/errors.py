"""The assistant's domain errors (mapped to problem+json by the API's one handler)."""

from __future__ import annotations

from spectral.platform.shared.errors import ConflictError


class ApprovalExpiredError(ConflictError):
    """An approval past its expiry: the world it described may have moved on; ask again."""

    slug = "approval-expired"
    title = "Approval Expired"
