"""Errors of the traces context (each maps to an RFC 9457 problem through its base class)."""

from __future__ import annotations

from spectral.platform.shared.errors import BadRequestError, NotFoundError


class UndecodableTracesError(BadRequestError):
    """An OTLP body that is not a well-formed ExportTraceServiceRequest (400)."""

    slug = "undecodable-payload"
    title = "Undecodable Payload"


class TraceNotFoundError(NotFoundError):
    @classmethod
    def of(cls, trace_id: str) -> TraceNotFoundError:
        return cls(f"Trace {trace_id} not found")


class SpanRejected(ValueError):
    """This span cannot be stored; the reason goes into the OTLP partial-success message (or the
    native ingest result's `errors`)."""
