"""The audit page in a real browser: filters (an actor by username), the CSV button that
downloads exactly the filtered events with usernames, and a timeline readable at the
span asked for (a day, a month, years) or none for an empty result."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from fivesafes.audit import timeline as periods
from tests.e2e.browser.conftest import log_in, shot


def _open_audit(page: Page) -> None:
    log_in(page, "gina")
    page.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail", exact=True)).to_be_visible()


def test_filters_and_the_csv_button_download_the_filtered_events_with_usernames(
    page: Page,
) -> None:
    _open_audit(page)
    chart = page.get_by_role("img", name=re.compile("Audit events per"))
    expect(chart).to_be_visible()
    page.get_by_label("Actor (username or id)").fill("gina")
    page.get_by_label("Action", exact=True).fill("web.")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"actor=gina"))
    events = page.get_by_role("table", name=re.compile("Events"))
    expect(events.get_by_role("cell", name="web.login").first).to_be_visible()
    actors = events.locator("tbody tr td:nth-child(3) .actor")
    assert actors.count() >= 1
    assert set(actors.all_inner_texts()) == {"gina"}
    shot(page, "20-audit-filtered")

    with page.expect_download() as caught:
        page.get_by_role("link", name="Download these events as CSV").click()
    download = caught.value
    assert download.suggested_filename == "audit-events.csv"
    path = download.path()
    assert path is not None
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows
    assert {r["actor_username"] for r in rows} == {"gina"}
    assert all(r["action"].startswith("web.") for r in rows)
    assert {r["actor_id"] for r in rows} == {rows[0]["actor_id"]}
    assert re.fullmatch(r"[0-9a-f-]{36}", rows[0]["actor_id"])
    # exactly the page's events (the download itself is audit.export, outside the filter)
    shown = events.locator("tbody tr td:first-child").all_inner_texts()
    assert sorted(int(s) for s in shown) == sorted(int(r["seq"]) for r in rows)


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


@pytest.mark.parametrize(
    "days_back",
    [0, 30, 3 * 365, 12 * 365],
    ids=["one day", "a month", "three years", "twelve years"],
)
def test_the_timeline_is_readable_at_any_span(page: Page, days_back: int) -> None:
    _open_audit(page)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = today - timedelta(days=days_back), today
    page.goto(f"/web/governance/audit?since={_day(since)}&until={_day(until)}")
    step = periods.choose_step(since, until + timedelta(days=1))
    expect(page.get_by_role("heading", name=f"Timeline (events per {step.name})")).to_be_visible()
    chart = page.get_by_role("img", name=f"Audit events per {step.name}")
    expect(chart).to_be_visible()
    columns = chart.locator("g.chart__column")
    assert 1 <= columns.count() <= periods.MAX_BARS
    ticks = chart.locator("text.chart__tick")
    assert 2 <= ticks.count() <= 8
    # labels side by side, never overlapping, inside the drawing
    boxes = [ticks.nth(i).bounding_box() for i in range(ticks.count())]
    chart_box = chart.bounding_box()
    assert chart_box is not None
    for left, right in itertools.pairwise(boxes):
        assert left is not None
        assert right is not None
        assert left["x"] + left["width"] < right["x"]
    last = boxes[-1]
    assert last is not None
    assert last["x"] + last["width"] <= chart_box["x"] + chart_box["width"] + 1
    # the same counts as a table, for screen readers and for reading numbers off
    page.get_by_text("The timeline as a table").click()
    table = page.get_by_role("table", name=f"Events per {step.name}")
    expect(table).to_be_visible()
    assert table.locator("tbody tr").count() == columns.count()
    shot(page, f"21-audit-timeline-{days_back}d")


def test_an_empty_result_and_a_bad_date(page: Page) -> None:
    # (an hour's span, by the minute, is tested where times can be chosen: the unit and
    # integration tests; the page's filters are whole days)
    _open_audit(page)
    page.get_by_label("Action", exact=True).fill("no.such.")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("No events match these filters.")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Audit events per"))).to_have_count(0)
    shot(page, "22-audit-empty")

    page.goto("/web/governance/audit?since=2026-02-30")
    expect(page.get_by_role("alert")).to_contain_text("From (date): 2026-02-30 is not a date")
    expect(page.get_by_label("From (date, UTC)")).to_be_visible()
    shot(page, "23-audit-bad-date")
