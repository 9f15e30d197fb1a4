"""The audit timeline as drawn: labels as long as the span needs, never overlapping, and
a tooltip/table label that names its whole period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.audit import timeline as periods
from fivesafes.web import charts

START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _chart(span: timedelta, events: list[tuple[datetime, str]] | None = None) -> charts.Timeline:
    end = START + span
    step = periods.choose_step(START, end)
    counts = [(moment, outcome, 1) for moment, outcome in events or []]
    return charts.timeline(periods.build(START, end, step, counts))


def test_an_hour_by_the_minute() -> None:
    chart = _chart(timedelta(hours=1), [(START + timedelta(minutes=5), "denied")])
    assert chart.unit == "minute"
    assert len(chart.columns) == 60
    assert chart.ticks[0].label == "09:00"
    assert chart.columns[5].label == "3 Nov 2026 09:05 to 09:06"
    assert (chart.columns[5].refused, chart.columns[5].refused_height) == (1, charts.PLOT_HEIGHT)
    assert chart.caption == "3 Nov 2026 09:00 to 3 Nov 2026 10:00 (UTC), one column per minute"


def test_a_day_a_month_and_years() -> None:
    day = _chart(timedelta(days=1))
    assert day.unit == "30 minutes"
    assert day.ticks[0].label == "3 Nov 09:00"  # the span crosses midnight: the day is named
    month = _chart(timedelta(days=30))
    assert (month.unit, month.columns[0].label, month.ticks[1].label[-3:]) == (
        "day",
        "3 Nov 2026",
        "Nov",
    )
    years = _chart(timedelta(days=365 * 3))
    assert years.unit == "month"
    assert years.ticks[0].label == "Nov 2026"
    decades = _chart(timedelta(days=365 * 40))
    assert decades.unit == "year"
    assert [t.label for t in decades.ticks][:2] == ["2026", "2032"]
    quarters = _chart(timedelta(days=365 * 10))
    assert quarters.columns[0].label == "Oct 2026 to Dec 2026"


def test_an_empty_trail_draws_nothing() -> None:
    chart = charts.timeline(None)
    assert (chart.columns, chart.ticks, chart.caption) == ([], [], "")


@settings(deadline=None)  # timing varies on a shared machine; no timing is tested
@given(st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=365 * 200)))
def test_labels_never_overlap_and_stay_inside_the_chart(span: timedelta) -> None:
    chart = _chart(span)
    assert 1 <= len(chart.columns) <= periods.MAX_BARS
    assert chart.ticks
    assert len(chart.ticks) <= charts.MAX_TICKS
    for left, right in zip(chart.ticks, chart.ticks[1:], strict=False):
        assert right.x - left.x >= len(left.label) * charts.CHAR_WIDTH
    last = chart.ticks[-1]
    assert last.x + len(last.label) * charts.CHAR_WIDTH <= chart.width
    assert chart.columns[-1].x + chart.column_width <= chart.width
