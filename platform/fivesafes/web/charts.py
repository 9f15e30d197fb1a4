"""Small bar charts drawn as inline SVG on the server (no chart library, no script).

Each chart is also given as a table beside it, for screen readers and for anyone who
prefers numbers; the SVG carries a title and description.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

WIDTH = 640
BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 200


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class HorizontalBars:
    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    width: int = WIDTH


def horizontal_bars(counts: Mapping[str, int]) -> HorizontalBars:
    """Bars sorted largest first, scaled to the largest value."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top = max((v for _, v in items), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 60
    bars = [
        Bar(label, value, i * (BAR_HEIGHT + GAP), max(1, round(room * value / top)))
        for i, (label, value) in enumerate(items)
    ]
    return HorizontalBars(bars, max(len(bars), 1) * (BAR_HEIGHT + GAP))


def entities_per_type(entities: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """The de-identification report's per-column counts, summed per entity type."""
    totals: Counter[str] = Counter()
    for counts in entities.values():
        totals.update({k: int(v) for k, v in counts.items()})
    return dict(totals)


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    x: int
    success: int
    refused: int  # denied or failed
    success_height: int
    refused_height: int


@dataclass(frozen=True, slots=True)
class Timeline:
    columns: list[Column]
    unit: str  # "hour" or "day"
    height: int
    column_width: int
    top: int
    width: int = WIDTH


PLOT_HEIGHT = 160


def timeline(events: Iterable[tuple[datetime, str]], *, max_columns: int = 48) -> Timeline:
    """Events per hour (a span under two days) or per day, split by outcome."""
    rows = list(events)
    if not rows:
        return Timeline([], "day", PLOT_HEIGHT, 0, 0)
    first, last = min(t for t, _ in rows), max(t for t, _ in rows)
    hourly = last - first < timedelta(days=2)
    step = timedelta(hours=1) if hourly else timedelta(days=1)

    def bucket(moment: datetime) -> datetime:
        if hourly:
            return moment.replace(minute=0, second=0, microsecond=0)
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)

    start = bucket(first)
    count = min(int((bucket(last) - start) / step) + 1, max_columns)
    start = bucket(last) - step * (count - 1)
    ok: Counter[datetime] = Counter()
    bad: Counter[datetime] = Counter()
    for moment, outcome in rows:
        key = bucket(moment)
        if key >= start:
            (ok if outcome == "success" else bad)[key] += 1
    keys = [start + step * i for i in range(count)]
    top = max((ok[k] + bad[k] for k in keys), default=0) or 1
    column_width = max(4, min(40, (WIDTH - 40) // count))
    fmt = "%d %b %H:00" if hourly else "%d %b"
    columns = [
        Column(
            label=k.strftime(fmt),
            x=40 + i * column_width,
            success=ok[k],
            refused=bad[k],
            success_height=round(PLOT_HEIGHT * ok[k] / top),
            refused_height=round(PLOT_HEIGHT * bad[k] / top),
        )
        for i, k in enumerate(keys)
    ]
    return Timeline(columns, "hour" if hourly else "day", PLOT_HEIGHT, column_width, top)
