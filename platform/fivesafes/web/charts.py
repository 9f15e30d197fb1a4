"""Small bar charts drawn as inline SVG on the server (no chart library, no script).

Each chart is also given as a table beside it, for screen readers and for anyone who
prefers numbers; the SVG carries a title and description.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from fivesafes.audit import timeline as periods

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
    label: str  # the whole period, for the tooltip and the table: "3 Nov 2026 14:00 to 15:00"
    x: int
    success: int
    refused: int  # denied or failed
    success_height: int
    refused_height: int


@dataclass(frozen=True, slots=True)
class Tick:
    x: int
    label: str  # short: "14:00", "3 Nov", "Nov 2026", "2026"


@dataclass(frozen=True, slots=True)
class Timeline:
    columns: list[Column]
    ticks: list[Tick]
    unit: str  # the period: "minute", "3 hours", "week", "year"...
    caption: str  # the span shown
    height: int
    column_width: int
    top: int
    width: int = WIDTH


PLOT_HEIGHT = 160
PLOT_LEFT = 40
MAX_COLUMN_WIDTH = 100
#: Roughly the advance of a character of the 13px label font, to keep labels apart.
CHAR_WIDTH = 7.5
#: At most this many labels under the columns: enough to read a date off, no more.
MAX_TICKS = 8


def _day(moment: datetime, *, year: bool = True) -> str:
    text = f"{moment.day} {moment:%b}"
    return f"{text} {moment.year}" if year else text


def _clock(moment: datetime) -> str:
    return f"{moment:%H:%M}"


def _at(unit: periods.Unit, moment: datetime) -> str:
    """``moment`` to the precision of ``unit``, with its year."""
    if unit in (periods.Unit.MINUTE, periods.Unit.HOUR):
        return f"{_day(moment)} {_clock(moment)}"
    if unit in (periods.Unit.DAY, periods.Unit.WEEK):
        return _day(moment)
    return f"{moment:%b} {moment.year}" if unit is periods.Unit.MONTH else str(moment.year)


def _last_instant(bar: periods.Bar) -> datetime:
    return bar.end - timedelta(microseconds=1)


def period_label(step: periods.Step, bar: periods.Bar) -> str:
    """The whole period, unambiguous on its own (the tooltip and the table)."""
    unit, start = step.unit, bar.start
    if unit in (periods.Unit.MINUTE, periods.Unit.HOUR):
        return f"{_at(unit, start)} to {_clock(bar.end)}"
    if unit is periods.Unit.WEEK:
        return f"week of {_day(start)}"
    if step.count == 1:
        return _at(unit, start)
    return f"{_at(unit, start)} to {_at(unit, _last_instant(bar))}"


def span_label(step: periods.Step, first: periods.Bar, last: periods.Bar) -> str:
    """From the first period's start to the last one's end (sub-day: the exclusive end;
    longer periods: the last day, month or year they hold)."""
    unit = step.unit
    if unit in (periods.Unit.MINUTE, periods.Unit.HOUR):
        return f"{_at(unit, first.start)} to {_at(unit, last.end)}"
    if unit is periods.Unit.WEEK:
        unit = periods.Unit.DAY
    return f"{_at(unit, first.start)} to {_at(unit, _last_instant(last))}"


def tick_label(step: periods.Step, moment: datetime, *, one_day: bool, one_year: bool) -> str:
    """A short label under a column: as much of the date as the span needs."""
    unit = step.unit
    if unit in (periods.Unit.MINUTE, periods.Unit.HOUR):
        return _clock(moment) if one_day else f"{_day(moment, year=False)} {_clock(moment)}"
    if unit in (periods.Unit.DAY, periods.Unit.WEEK):
        return _day(moment, year=not one_year)
    if unit is periods.Unit.MONTH:
        return f"{moment:%b} {moment.year}"
    return str(moment.year)


def timeline(found: periods.Timeline | None) -> Timeline:
    """Stacked columns (successes, then refusals on top), one per period of ``found``,
    with short labels spaced so they never overlap; empty when no event matched."""
    if found is None or not found.bars:
        return Timeline([], [], "day", "", PLOT_HEIGHT, 0, 0)
    bars, step = found.bars, found.step
    plot = WIDTH - PLOT_LEFT
    column_width = max(4, min(MAX_COLUMN_WIDTH, plot // len(bars)))
    top = found.top or 1
    columns = [
        Column(
            label=period_label(step, bar),
            x=PLOT_LEFT + i * column_width,
            success=bar.success,
            refused=bar.refused,
            success_height=round(PLOT_HEIGHT * bar.success / top),
            refused_height=round(PLOT_HEIGHT * bar.refused / top),
        )
        for i, bar in enumerate(bars)
    ]
    last_moment = _last_instant(bars[-1])
    one_day = bars[0].start.date() == last_moment.date()
    one_year = bars[0].start.year == last_moment.year
    labels = [tick_label(step, b.start, one_day=one_day, one_year=one_year) for b in bars]
    room = max(len(label) for label in labels) * CHAR_WIDTH + 12
    every = max(1, math.ceil(room / column_width), math.ceil(len(bars) / MAX_TICKS))
    ticks = [
        Tick(columns[i].x, labels[i])
        for i in range(0, len(bars), every)
        if columns[i].x + len(labels[i]) * CHAR_WIDTH <= WIDTH
    ]
    caption = f"{span_label(step, bars[0], bars[-1])} (UTC), one column per {step.name}"
    return Timeline(
        columns,
        ticks,
        step.name,
        caption,
        PLOT_HEIGHT,
        column_width,
        found.top,
    )
