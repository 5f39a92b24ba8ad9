"""Every background job function, by name: the worker registers these with arq and the embedded
in-process queue runs the very same functions. Cron jobs run in the worker's default queue."""

from __future__ import annotations

from arq.cron import CronJob

from spectral.platform.shared.queue import JobFunction

JOB_FUNCTIONS: dict[str, JobFunction] = {}
CRON_JOBS: list[CronJob] = []
