"""Identifiers: UUIDs everywhere in the API (trace and span ids keep their OTLP hex form)."""

import uuid


def new_id() -> uuid.UUID:
    return uuid.uuid4()
