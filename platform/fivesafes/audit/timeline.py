"""Events per period over a window of the trail, with a period chosen from the window.

A reviewer may look at the last hour or at five years of the trail; a fixed "per hour"
or "per day" makes one of the two unreadable (thousands of hair-thin bars, or one bar).
So the period is the shortest of a ladder of natural ones (1, 2, 5, 10, 15, 30 minutes;
1, 2, 3, 6 hours; a day, so any month is shown day by day; a week from Monday; a month;
a quarter; 1, 2, 5, 10... years) that cuts the window into at most :data:`MAX_BARS`
periods: an hour by the minute, a day by the half hour, a week by 3 hours, a month by
the day, a year by the week, three years by the month. Periods are aligned to
the calendar in UTC (a 15-minute period starts at :00, :15...; a week on Monday), so the
same event always falls in the same bar whatever the window.

The database counts events per minute, hour or day (the coarsest grain that divides the
period: :attr:`Step.grain`), grouped with the outcome; :func:`build` folds those counts
into the periods. Nothing here touches the database: it is pure and tested with
hypothesis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

MAX_BARS = 60
_LAST = datetime.max.replace(tzinfo=UTC)


class Unit(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Grain(StrEnum):
    """What the database groups by before the periods are folded."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


_FIXED = {
    Unit.MINUTE: timedelta(minutes=1),
    Unit.HOUR: timedelta(hours=1),
    Unit.DAY: timedelta(days=1),
    Unit.WEEK: timedelta(weeks=1),
}


@dataclass(frozen=True, slots=True)
class Step:
    """A period: ``count`` of ``unit`` (``count`` divides the unit above it: 15 minutes,
    6 hours, 3 months), aligned to the calendar."""

    unit: Unit
    count: int = 1

    @property
    def name(self) -> str:
        """``"minute"``, ``"5 minutes"``, ``"3 months"``: for "events per ..."."""
        return self.unit.value if self.count == 1 else f"{self.count} {self.unit.value}s"

    @property
    def grain(self) -> Grain:
        if self.unit is Unit.MINUTE:
            return Grain.MINUTE
        return Grain.HOUR if self.unit is Unit.HOUR else Grain.DAY

    def floor(self, moment: datetime) -> datetime:
        """The start of the period holding ``moment`` (an aware time, read in UTC)."""
        m = moment.astimezone(UTC).replace(second=0, microsecond=0)
        if self.unit is Unit.MINUTE:
            return m.replace(minute=m.minute - m.minute % self.count)
        m = m.replace(minute=0)
        if self.unit is Unit.HOUR:
            return m.replace(hour=m.hour - m.hour % self.count)
        m = m.replace(hour=0)
        if self.unit is Unit.DAY:
            return m
        if self.unit is Unit.WEEK:
            return m - timedelta(days=m.weekday())  # 0001-01-01 is a Monday
        if self.unit is Unit.MONTH:
            return m.replace(month=(m.month - 1) // self.count * self.count + 1, day=1)
        return m.replace(year=max(1, m.year - m.year % self.count), month=1, day=1)

    def following(self, start: datetime) -> datetime:
        """The start of the period after the one starting at ``start`` (at most the end
        of representable time, which ends the last period)."""
        try:
            if self.unit in _FIXED:
                return start + _FIXED[self.unit] * self.count
            if self.unit is Unit.MONTH:
                months = start.year * 12 + start.month - 1 + self.count
                return start.replace(year=months // 12, month=months % 12 + 1)
            return start.replace(year=(start.year // self.count + 1) * self.count)
        except (OverflowError, ValueError):
            return _LAST


#: Shortest first; :func:`choose_step` takes the first that fits.
LADDER: tuple[Step, ...] = (
    *(Step(Unit.MINUTE, n) for n in (1, 2, 5, 10, 15, 30)),
    *(Step(Unit.HOUR, n) for n in (1, 2, 3, 6)),
    Step(Unit.DAY),
    Step(Unit.WEEK),
    Step(Unit.MONTH),
    Step(Unit.MONTH, 3),
    *(Step(Unit.YEAR, n) for n in (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)),
    Step(Unit.YEAR, 10000),
)


def period_starts(start: datetime, end: datetime, step: Step, limit: int) -> list[datetime]:
    """The starts of the periods covering ``[start, end)``; at most ``limit + 1`` of them
    (one more than ``limit`` says "too many")."""
    starts = [step.floor(start)]
    while len(starts) <= limit:
        following = step.following(starts[-1])
        if following >= end or following == _LAST:
            break
        starts.append(following)
    return starts


def choose_step(start: datetime, end: datetime, max_bars: int = MAX_BARS) -> Step:
    """The shortest period of the ladder cutting ``[start, end)`` into at most
    ``max_bars`` periods."""
    for step in LADDER:
        if len(period_starts(start, end, step, max_bars)) <= max_bars:
            return step
    return LADDER[-1]


def window(
    since: datetime | None, until: datetime | None, first: datetime, last: datetime
) -> tuple[datetime, datetime]:
    """The span the timeline covers: the filter's bounds where it has them (so the quiet
    periods the reviewer asked about show as empty), else the first event and just after
    the last, never empty."""
    start = since if since is not None else first
    end = until if until is not None else last + timedelta(seconds=1)
    return start, max(end, start + timedelta(minutes=1))


@dataclass(frozen=True, slots=True)
class Bar:
    start: datetime
    end: datetime
    success: int
    refused: int  # denied or failed

    @property
    def total(self) -> int:
        return self.success + self.refused


@dataclass(frozen=True, slots=True)
class Timeline:
    step: Step
    start: datetime
    end: datetime
    bars: list[Bar]

    @property
    def top(self) -> int:
        return max((b.total for b in self.bars), default=0)

    @property
    def total(self) -> int:
        return sum(b.total for b in self.bars)


def build(
    start: datetime,
    end: datetime,
    step: Step,
    counts: Iterable[tuple[datetime, str, int]],
    max_bars: int = MAX_BARS,
) -> Timeline:
    """Fold ``(moment, outcome, count)`` rows (moments at the step's grain, or finer)
    into the periods covering ``[start, end)``. A count outside them is not drawn."""
    starts = period_starts(start, end, step, max_bars)[:max_bars]
    index = {s: i for i, s in enumerate(starts)}
    success = [0] * len(starts)
    refused = [0] * len(starts)
    for moment, outcome, count in counts:
        i = index.get(step.floor(moment))
        if i is None:
            continue
        if outcome == "success":
            success[i] += count
        else:
            refused[i] += count
    ends = [*starts[1:], step.following(starts[-1])]
    columns = zip(starts, ends, success, refused, strict=True)
    bars = [Bar(s, e, ok, bad) for s, e, ok, bad in columns]
    return Timeline(step, start, end, bars)
