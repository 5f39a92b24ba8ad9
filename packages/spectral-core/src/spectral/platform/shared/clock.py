"""Time in one place: timezone-aware UTC, so comparisons never mix naive and aware values."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A datetime field that is always timezone-aware UTC in API payloads (SQLite returns naive values).
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]
