"""Time in one place: timezone-aware UTC, so comparisons never mix naive and aware values."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

from spectral.platform.shared.schema_types import IsoDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A datetime field that is always timezone-aware UTC in API payloads (SQLite returns naive values);
# given as text, it is ISO 8601 (never a bare number).
UtcDateTime = Annotated[IsoDateTime, AfterValidator(as_utc)]
