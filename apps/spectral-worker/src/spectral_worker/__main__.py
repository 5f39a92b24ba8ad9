"""`python -m spectral_worker [--queues default,scans] [--burst]`: run background jobs from Redis."""

from __future__ import annotations

import argparse
import asyncio

from spectral.platform.shared.logging import configure_logging
from spectral.platform.shared.settings import load_settings
from spectral.platform.shared.startup import refuse_to_start
from spectral_worker.worker import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="spectral_worker", description="Run Spectral's background jobs")
    parser.add_argument("--queues", default="default,scans", help="comma-separated: default, scans")
    parser.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    args = parser.parse_args()
    with refuse_to_start("spectral-worker"):
        settings = load_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    asyncio.run(run(settings, queues=queues, burst=args.burst))


if __name__ == "__main__":
    main()
