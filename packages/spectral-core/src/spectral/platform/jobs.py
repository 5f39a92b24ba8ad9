"""Every background job function, by name: the worker registers these with arq and the embedded
in-process queue runs the very same functions. Periodic jobs run as arq cron jobs in the worker's
default queue, or on timers inside the API when embedded."""

from __future__ import annotations

from spectral.platform.changesets.jobs import run_experiment
from spectral.platform.changesets.service import RUN_EXPERIMENT_JOB, RUN_VALIDATION_JOB
from spectral.platform.evaluations.online import (
    RESCORE_JOB,
    SCORE_ONLINE_JOB,
    rescore_rubric,
    score_online_traces,
)
from spectral.platform.identity.mail import SEND_MAIL_JOB, send_mail_job
from spectral.platform.identity.password_reset import RESET_JOB, password_reset_job
from spectral.platform.models.jobs import prune_model_cache
from spectral.platform.retention import expire_traces_job
from spectral.platform.scans.jobs import reap_stale_scans, run_scan, run_validation, tick_schedules
from spectral.platform.scans.service import RUN_SCAN_JOB
from spectral.platform.shared.logging import logged_job
from spectral.platform.shared.queue import JobFunction, PeriodicJob
from spectral.platform.supervisor.jobs import run_nightly_plans
from spectral.platform.traces.jobs import maintain_span_partitions

_JOBS: dict[str, JobFunction] = {
    SEND_MAIL_JOB: send_mail_job,
    RESET_JOB: password_reset_job,
    RUN_SCAN_JOB: run_scan,
    RUN_EXPERIMENT_JOB: run_experiment,
    RUN_VALIDATION_JOB: run_validation,
    SCORE_ONLINE_JOB: score_online_traces,
    RESCORE_JOB: rescore_rubric,
}
# Each logs its start and end, and runs with its job and scan ids on every log line.
JOB_FUNCTIONS: dict[str, JobFunction] = {name: logged_job(name, function) for name, function in _JOBS.items()}
PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("tick_schedules", tick_schedules, every_s=60),
    PeriodicJob("reap_stale_scans", reap_stale_scans, every_s=60),
    PeriodicJob("supervisor_nightly", run_nightly_plans, every_s=3600),
    PeriodicJob("prune_model_cache", prune_model_cache, every_s=3600),
    PeriodicJob("maintain_span_partitions", maintain_span_partitions, every_s=3600),
    PeriodicJob("expire_traces", expire_traces_job, every_s=3600),
]
