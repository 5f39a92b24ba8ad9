"""Domain errors. Each knows its RFC 9457 type slug, title and HTTP status; the API maps them
to problem documents in one handler, so services raise these and never think about HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

ERROR_TYPE_BASE = "https://spectral.dev/errors/"


class DomainError(Exception):
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad Request"
    status: ClassVar[int] = 400

    def __init__(self, detail: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})

    @classmethod
    def type_uri(cls) -> str:
        return ERROR_TYPE_BASE + cls.slug


class BadRequestError(DomainError):
    pass


class BusinessRuleViolationError(DomainError):
    slug = "business-rule-violation"
    title = "Business Rule Violation"


class InvalidTransitionError(DomainError):
    slug = "invalid-transition"
    title = "Invalid State Transition"


class AuthenticationError(DomainError):
    slug = "unauthorized"
    title = "Unauthorized"
    status = 401


class ForbiddenError(DomainError):
    slug = "forbidden"
    title = "Forbidden"
    status = 403


class NotFoundError(DomainError):
    slug = "not-found"
    title = "Resource Not Found"
    status = 404

    @classmethod
    def for_resource(cls, kind: str, resource_id: object) -> NotFoundError:
        return cls(f"{kind} {resource_id} not found")


class ConflictError(DomainError):
    slug = "conflict"
    title = "Conflict"
    status = 409


class PayloadTooLargeError(DomainError):
    slug = "payload-too-large"
    title = "Payload Too Large"
    status = 413


class UnsupportedMediaTypeError(DomainError):
    slug = "unsupported-media-type"
    title = "Unsupported Media Type"
    status = 415


class ValidationFailedError(DomainError):
    """Payload validation found by a service (not by Pydantic); carries an `errors` list."""

    slug = "validation-error"
    title = "Validation Error"
    status = 422

    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail, extra={"errors": errors})
        self.errors = errors


class RateLimitedError(DomainError):
    slug = "rate-limited"
    title = "Too Many Requests"
    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class ServiceUnavailableError(DomainError):
    slug = "service-unavailable"
    title = "Service Unavailable"
    status = 503

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)
