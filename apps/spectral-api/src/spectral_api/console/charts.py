"""Server-rendered SVG line charts: no script, readable without colour (points carry titles)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PALETTE = ("#1d4ed8", "#b45309", "#047857", "#9d174d", "#5b21b6", "#0e7490")


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    colour: str
    points: list[Point]
    path: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    series: list[Series]
    y_min: float
    y_max: float


def line_chart(
    data: dict[str, list[tuple[datetime, float]]], *, width: int = 640, height: int = 200, pad: int = 30
) -> Chart | None:
    """Place each series' (time, value) pairs on one shared time axis and value axis."""
    values = [(t, v) for points in data.values() for t, v in points]
    if not values:
        return None
    t0 = min(t for t, _ in values).timestamp()
    t1 = max(t for t, _ in values).timestamp()
    y0 = min(v for _, v in values)
    y1 = max(v for _, v in values)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    span_t = (t1 - t0) or 1.0

    def place(t: datetime, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * ((t.timestamp() - t0) / span_t if t1 > t0 else 0.5)
        y = height - pad - (height - 2 * pad) * (v - y0) / (y1 - y0)
        return round(x, 1), round(y, 1)

    series = []
    for i, (name, points) in enumerate(sorted(data.items())):
        placed = [
            Point(*place(t, v), title=f"{name}: {v:.3f} at {t:%Y-%m-%d %H:%M}") for t, v in sorted(points)
        ]
        path = " ".join(f"{'M' if j == 0 else 'L'}{p.x},{p.y}" for j, p in enumerate(placed))
        series.append(Series(name, PALETTE[i % len(PALETTE)], placed, path))
    return Chart(width, height, series, y0, y1)
