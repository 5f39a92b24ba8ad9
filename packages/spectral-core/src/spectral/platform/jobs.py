"""Every background job function, by name: the worker registers these with arq and the embedded
in-process queue runs the very same functions. Cron jobs run in the worker's default queue."""

from __future__ import annotations

from arq.cron import CronJob

from spectral.platform.identity.mail import SEND_MAIL_JOB, send_mail_job
from spectral.platform.identity.password_reset import RESET_JOB, password_reset_job
from spectral.platform.shared.queue import JobFunction

JOB_FUNCTIONS: dict[str, JobFunction] = {
    SEND_MAIL_JOB: send_mail_job,
    RESET_JOB: password_reset_job,
}
CRON_JOBS: list[CronJob] = []
