"""The change set lifecycle: proposed -> accepted -> applied, with reject and rollback."""

from __future__ import annotations

from enum import StrEnum

from spectral.platform.shared.lifecycle import Lifecycle


class ChangeSetStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    APPLIED = "applied"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"


class ChangeSetAction(StrEnum):
    ACCEPT = "accept"
    APPLY = "apply"
    REJECT = "reject"
    ROLLBACK = "rollback"


S, A = ChangeSetStatus, ChangeSetAction
CHANGESET_LIFECYCLE = Lifecycle(
    "Change set",
    {
        (S.PROPOSED, A.ACCEPT): S.ACCEPTED,
        (S.PROPOSED, A.REJECT): S.REJECTED,
        (S.ACCEPTED, A.APPLY): S.APPLIED,
        (S.ACCEPTED, A.ROLLBACK): S.ROLLED_BACK,
        (S.APPLIED, A.ROLLBACK): S.ROLLED_BACK,
    },
)


class RunStatus(StrEnum):
    """Experiments and validation runs: started with 202, finished by the worker."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


RUN_LIFECYCLE = Lifecycle(
    "Run",
    {
        (RunStatus.QUEUED, "start"): RunStatus.RUNNING,
        (RunStatus.RUNNING, "succeed"): RunStatus.SUCCEEDED,
        (RunStatus.RUNNING, "fail"): RunStatus.FAILED,
        (RunStatus.QUEUED, "fail"): RunStatus.FAILED,
    },
)
