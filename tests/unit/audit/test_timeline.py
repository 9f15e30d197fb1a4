"""The timeline's periods: chosen from the window so there are at most 60 bars, aligned
to the calendar, contiguous, and every event counted in the one period holding it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.audit import timeline as periods
from fivesafes.audit.timeline import LADDER, MAX_BARS, Step, Unit

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)
)
ordinary = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
spans = st.one_of(
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=2)),
    st.timedeltas(min_value=timedelta(days=2), max_value=timedelta(days=400)),
    st.timedeltas(min_value=timedelta(days=400), max_value=timedelta(days=365 * 80)),
)
steps = st.sampled_from(LADDER)


@st.composite
def windows(draw: st.DrawFn) -> tuple[datetime, datetime]:
    start = draw(ordinary)
    return start, start + draw(spans)


@settings(deadline=None)  # timing varies on a shared machine; no timing is tested
@given(windows())
def test_the_step_is_the_shortest_that_fits_in_sixty_bars(
    window: tuple[datetime, datetime],
) -> None:
    start, end = window
    step = periods.choose_step(start, end)
    assert len(periods.period_starts(start, end, step, MAX_BARS)) <= MAX_BARS
    shorter = LADDER[: LADDER.index(step)]
    for other in shorter:
        assert len(periods.period_starts(start, end, other, MAX_BARS)) > MAX_BARS


@settings(deadline=None)  # timing varies on a shared machine; no timing is tested
@given(moments, steps)
def test_a_period_holds_the_moment_and_starts_on_the_calendar(moment: datetime, step: Step) -> None:
    start = step.floor(moment)
    assert start <= moment < step.following(start)
    assert step.floor(start) == start
    assert (start.second, start.microsecond) == (0, 0)
    if step.unit is Unit.MINUTE:
        assert start.minute % step.count == 0
    if step.unit is Unit.HOUR:
        assert (start.minute, start.hour % step.count) == (0, 0)
    if step.unit is Unit.WEEK:
        assert start.weekday() == 0
        assert start.time().hour == 0
    if step.unit is Unit.MONTH:
        assert start.day == 1
        assert (start.month - 1) % step.count == 0
    if step.unit is Unit.YEAR:
        assert (start.month, start.day) == (1, 1)


@settings(deadline=None)  # timing varies on a shared machine; no timing is tested
@given(moments, steps)
def test_the_database_grain_never_splits_a_period(moment: datetime, step: Step) -> None:
    # The database counts per minute, hour or day; folding those must give the same period.
    grain = Step(Unit(step.grain.value))
    assert step.floor(grain.floor(moment)) == step.floor(moment)


@settings(deadline=None)  # timing varies on a shared machine; no timing is tested
@given(
    windows(),
    st.lists(st.tuples(st.floats(0, 1), st.sampled_from(["success", "denied", "failed"]))),
)
def test_every_event_in_the_window_is_counted_once_in_its_period(
    window: tuple[datetime, datetime], events: list[tuple[float, str]]
) -> None:
    start, end = window
    step = periods.choose_step(start, end)
    # the filter keeps every event the timeline is given inside its window
    last = end - timedelta(microseconds=1)
    inside = [(min(start + (end - start) * f, last), outcome) for f, outcome in events]
    built = periods.build(start, end, step, [(m, o, 1) for m, o in inside])
    assert len(built.bars) <= MAX_BARS
    assert built.bars[0].start <= start
    assert built.bars[-1].end >= end
    for before, after in zip(built.bars, built.bars[1:], strict=False):
        assert before.end == after.start
    assert built.total == len(inside)
    for moment, _outcome in inside:
        (bar,) = [b for b in built.bars if b.start <= moment < b.end]
        assert bar.total >= 1
    assert sum(b.success for b in built.bars) == sum(1 for _, o in inside if o == "success")


HOUR_START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "name", "bars"),
    [
        (timedelta(hours=1), "minute", 60),
        (timedelta(days=1), "30 minutes", 48),
        (timedelta(days=7), "3 hours", 56),
        (timedelta(days=30), "day", 31),
        (timedelta(days=365), "week", 53),
        (timedelta(days=365 * 4), "month", 49),
        (timedelta(days=365 * 12), "3 months", 49),
        (timedelta(days=365 * 40), "year", 41),
    ],
)
def test_named_spans_get_readable_periods(span: timedelta, name: str, bars: int) -> None:
    built = periods.build(
        HOUR_START, HOUR_START + span, periods.choose_step(HOUR_START, HOUR_START + span), []
    )
    assert (built.step.name, len(built.bars)) == (name, bars)


def test_the_whole_calendar_fits_and_nothing_overflows() -> None:
    start = datetime(1, 1, 1, tzinfo=UTC)
    end = datetime(9999, 12, 31, tzinfo=UTC)
    step = periods.choose_step(start, end)
    built = periods.build(start, end, step, [(datetime(2026, 5, 1, tzinfo=UTC), "success", 3)])
    assert step.unit is Unit.YEAR
    assert len(built.bars) <= MAX_BARS
    assert built.total == 3
    assert built.bars[-1].end > datetime(9999, 1, 1, tzinfo=UTC)


def test_the_window_is_the_filters_else_the_events() -> None:
    first, last = HOUR_START, HOUR_START + timedelta(hours=5)
    since, until = HOUR_START - timedelta(days=3), HOUR_START + timedelta(days=4)
    assert periods.window(since, until, first, last) == (since, until)
    assert periods.window(None, None, first, last) == (first, last + timedelta(seconds=1))
    # one event and no bounds: a window of a minute, never an empty one
    assert periods.window(None, None, first, first) == (first, first + timedelta(minutes=1))


def test_counts_outside_the_window_are_not_drawn() -> None:
    end = HOUR_START + timedelta(hours=1)
    built = periods.build(
        HOUR_START,
        end,
        Step(Unit.MINUTE),
        [(HOUR_START - timedelta(minutes=1), "success", 5), (HOUR_START, "denied", 2)],
    )
    assert (built.total, built.bars[0].refused, built.top) == (2, 2, 2)
