"""Errors of the agents context."""

from __future__ import annotations

from spectral.platform.shared.errors import NotFoundError


class NoActiveConfigError(NotFoundError):
    """The agent exists but no config version has been activated yet."""

    slug = "no-active-config"
    title = "No Active Config"
