"""What the API process holds for its lifetime: settings, the database and the queue."""

from __future__ import annotations

from dataclasses import dataclass

from spectral.platform.shared.db import Database
from spectral.platform.shared.queue import JobQueue
from spectral.platform.shared.settings import Settings


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    queue: JobQueue
