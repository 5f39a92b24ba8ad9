"""The scan lifecycle. `requeue` is the reaper's: a scan whose worker died goes back to the queue."""

from __future__ import annotations

from enum import StrEnum

from spectral.platform.shared.lifecycle import Lifecycle


class ScanStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ScanAction(StrEnum):
    START = "start"
    SUCCEED = "succeed"
    FAIL = "fail"
    CANCEL = "cancel"
    REQUEUE = "requeue"


TERMINAL = frozenset({ScanStatus.SUCCEEDED, ScanStatus.FAILED, ScanStatus.CANCELLED})

S, A = ScanStatus, ScanAction
SCAN_LIFECYCLE = Lifecycle(
    "Scan",
    {
        (S.QUEUED, A.START): S.RUNNING,
        (S.QUEUED, A.CANCEL): S.CANCELLED,
        (S.QUEUED, A.FAIL): S.FAILED,
        (S.RUNNING, A.SUCCEED): S.SUCCEEDED,
        (S.RUNNING, A.FAIL): S.FAILED,
        (S.RUNNING, A.CANCEL): S.CANCELLED,
        (S.RUNNING, A.REQUEUE): S.QUEUED,
    },
)
