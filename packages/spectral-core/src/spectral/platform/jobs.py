"""Every background job function, by name: the worker registers these with arq and the embedded
in-process queue runs the very same functions."""

from __future__ import annotations

from spectral.platform.shared.queue import JobFunction

JOB_FUNCTIONS: dict[str, JobFunction] = {}
