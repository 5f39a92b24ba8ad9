"""Following a scan: a progress bar per phase, fed by the events cursor and the scan's progress."""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from spectral_cli.client import Client
from spectral_cli.context import out

PHASES = ("collect", "evaluate", "diagnose", "propose", "experiment", "validate", "report")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


def _phase_fraction(scan: dict[str, Any]) -> tuple[str, float] | None:
    """The scan's overall progress is seven equal steps; the current phase's share of its own step."""
    phase = scan.get("phase")
    if phase not in PHASES:
        return None
    index = PHASES.index(phase)
    return phase, max(0.0, min(1.0, float(scan.get("progress") or 0.0) * len(PHASES) - index))


def watch_scan(client: Client, ws: str, scan_id: str, *, quiet: bool, poll_s: float = 0.5) -> dict[str, Any]:
    """Poll until the scan ends; prints each event and moves the phase bars unless `quiet`."""
    after = 0
    with Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=out,
        disable=quiet,
    ) as progress:
        bars: dict[str, TaskID] = {phase: progress.add_task(phase, total=1.0) for phase in PHASES}
        while True:
            page = client.get(f"{ws}/scans/{scan_id}/events", params={"after": after, "limit": 500})
            for event in page["results"]:
                style = {"warning": "yellow", "error": "red"}.get(event.get("level", ""), "dim")
                if not quiet:
                    progress.console.print(f"[{style}]{event['phase']:>10}[/] {escape(event['message'])}")
                if event["phase"] in bars and event["message"] == f"{event['phase']} finished":
                    progress.update(bars[event["phase"]], completed=1.0)
            after = page.get("next_after") or after
            scan: dict[str, Any] = client.get(f"{ws}/scans/{scan_id}")
            current = _phase_fraction(scan)
            if current is not None:
                phase, fraction = current
                for earlier in PHASES[: PHASES.index(phase)]:
                    progress.update(bars[earlier], completed=1.0)
                task = progress.tasks[bars[phase]]
                progress.update(bars[phase], completed=max(task.completed, fraction))
            if scan["status"] in TERMINAL and not page["results"]:
                if scan["status"] == "succeeded":
                    for bar in bars.values():
                        progress.update(bar, completed=1.0)
                return scan
            time.sleep(poll_s)
