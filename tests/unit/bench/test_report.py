"""The bench report: ratios to same-run baselines, their spread, the bar rules, the load
warning and the shape of var/bench/latest.json (issue 21)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from fivesafes.bench import report as report_module
from fivesafes.bench.report import (
    REPORT_VAR,
    Figure,
    Report,
    load_warning,
    median,
    ratios,
    report_path,
    rounds_figure,
    spread,
    table,
    write_latest,
)

positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
paired = st.lists(st.tuples(positive, positive), min_size=1, max_size=12)


def _report(bench: str, figures: list[Figure], load: float = 0.5) -> Report:
    return Report(
        bench,
        {"rows": 10},
        figures,
        cores=2,
        load_before=(load, 0.4, 0.3),
        commit="abc123",
        started="2026-12-04T19:00:00+00:00",
    )


@given(paired)
def test_a_rounds_figure_is_the_median_of_per_round_ratios_inside_its_spread(
    rounds: list[tuple[float, float]],
) -> None:
    values, baselines = [v for v, _ in rounds], [b for _, b in rounds]
    figure = rounds_figure("x", "rows/s", "base", values, baselines)
    per_round = [v / b for v, b in rounds]
    ordered = sorted(per_round)
    middle = len(ordered) // 2
    expected = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    assert figure.ratio == pytest.approx(expected, rel=1e-9)
    assert figure.spread == (min(per_round), max(per_round))
    assert figure.spread is not None
    assert figure.ratio is not None
    assert figure.spread[0] <= figure.ratio <= figure.spread[1]
    assert figure.value == median(values)
    assert figure.baseline_value == median(baselines)


def test_the_median_of_an_even_count_is_the_middle_pair_s_mean() -> None:
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([0.9]) == 0.9
    with pytest.raises(ValueError, match="no values"):
        median([])
    with pytest.raises(ValueError, match="no values"):
        spread([])


def test_ratios_pair_each_round_with_its_own_baseline() -> None:
    assert ratios([2.0, 3.0], [4.0, 1.0]) == [0.5, 3.0]
    with pytest.raises(ValueError, match="2 figures but 1 baselines"):
        ratios([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="zero or less"):
        ratios([1.0], [0.0])


@given(st.lists(positive, min_size=1, max_size=9), positive)
def test_a_ratio_bar_is_judged_on_the_ratio_alone(per_round: list[float], scale: float) -> None:
    """The same ratios at any absolute speed give the same verdict: the weather cancels."""
    baselines = [1.0] * len(per_round)
    slow = rounds_figure("x", "u", "b", per_round, baselines, bar=0.35)
    fast = rounds_figure(
        "x", "u", "b", [r * scale for r in per_round], [scale] * len(per_round), bar=0.35
    )
    assert slow.ratio is not None
    assert slow.passed == (slow.ratio >= 0.35)
    assert fast.ratio == pytest.approx(slow.ratio)
    if abs(slow.ratio - 0.35) > 1e-6:
        assert fast.passed == slow.passed


@given(st.lists(st.floats(min_value=0.05, max_value=2.0), min_size=1, max_size=9))
def test_the_audit_bar_fails_only_when_the_upper_end_of_the_spread_is_below_it(
    per_round: list[float],
) -> None:
    figure = rounds_figure(
        "audit", "req/s", "unaudited", per_round, [1.0] * len(per_round), bar=0.8,
        rule="spread_at_least",
    )  # fmt: skip
    assert figure.passed == (max(per_round) >= 0.8)


def test_an_audit_median_below_the_bar_still_passes_when_a_round_reached_it() -> None:
    figure = rounds_figure(
        "audit", "req/s", "unaudited", [0.6, 0.7, 0.85], [1.0, 1.0, 1.0], bar=0.8,
        rule="spread_at_least",
    )  # fmt: skip
    assert figure.ratio == pytest.approx(0.7)
    assert figure.passed is True
    low = rounds_figure(
        "audit", "req/s", "unaudited", [0.6, 0.7, 0.79], [1.0] * 3, bar=0.8,
        rule="spread_at_least",
    )  # fmt: skip
    assert low.passed is False


def test_memory_bars_are_upper_bounds_and_figures_without_a_bar_are_only_reported() -> None:
    flat = Figure("rss", 210.0, "MB", "rss small", 200.0, 1.05, bar=1.2, rule="below")
    grown = Figure("rss", 260.0, "MB", "rss small", 200.0, 1.3, bar=1.2, rule="below")
    cap = Figure("peak", 1024.0, "MB", bar=1024, rule="value_below")
    reported = Figure("pkcs11/local", 90.0, "rows/s", "local", 100.0, 0.9)
    assert (flat.passed, grown.passed, cap.passed, reported.passed) == (True, False, False, None)
    assert (flat.bar_text(), cap.bar_text(), reported.bar_text()) == (
        "< 1.2",
        "< 1024 MB",
        "reported",
    )
    with pytest.raises(ValueError, match="needs a ratio"):
        _ = Figure("x", 1.0, "u", bar=0.5).passed


@given(st.floats(min_value=0, max_value=64), st.integers(min_value=1, max_value=64))
def test_a_run_under_load_says_so(one_minute: float, cores: int) -> None:
    warning = load_warning((one_minute, 0.0, 0.0), cores)
    assert (warning is not None) == (one_minute > cores)
    if warning is not None:
        assert f"{one_minute:.2f}" in warning
        assert f"{cores} cores" in warning


def test_the_report_warns_when_the_load_was_high_before_or_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 4.0, 3.0))
    loaded = _report("audit", []).finish()
    assert loaded.load_after == (5.0, 4.0, 3.0)
    assert [w.startswith("UNDER LOAD: load average 5.00") for w in loaded.warnings()] == [True]
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.4, 0.3))
    assert _report("audit", []).finish().warnings() == []


def test_latest_json_keeps_other_benches_and_replaces_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 2.0, 1.0))
    path = tmp_path / "var" / "bench" / "latest.json"
    copy = rounds_figure("e2e / COPY", "rows/s", "COPY", [40.0, 30.0], [100.0, 100.0], bar=0.35)
    write_latest(_report("ingestion", [copy]).finish(), path)
    write_latest(_report("audit", [Figure("a", 1.0, "req/s", "u", 1.0, 1.0)]).finish(), path)
    replaced = Figure("e2e / COPY", 50.0, "rows/s", "COPY", 100.0, 0.5, (0.5, 0.5), 0.35)
    write_latest(_report("ingestion", [replaced]).finish(), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema"] == 1
    assert sorted(data["benches"]) == ["audit", "ingestion"]
    section = data["benches"]["ingestion"]
    assert section["git_commit"] == "abc123"
    assert section["cores"] == 2
    assert section["load_before"] == [0.5, 0.4, 0.3]
    assert section["load_after"] == [3.0, 2.0, 1.0]
    assert section["loaded"] is True
    assert section["warnings"][0].startswith("UNDER LOAD")
    assert section["passed"] is True
    assert section["options"] == {"rows": 10}
    assert section["figures"] == [
        {
            "name": "e2e / COPY",
            "value": 50.0,
            "unit": "rows/s",
            "baseline": "COPY",
            "baseline_value": 100.0,
            "ratio": 0.5,
            "spread": [0.5, 0.5],
            "bar": 0.35,
            "rule": "at_least",
            "context": "",
            "passed": True,
        }
    ]
    assert not list(path.parent.glob(".*partial"))


def test_a_failed_bar_makes_the_section_fail_and_a_broken_file_is_replaced(
    tmp_path: Path,
) -> None:
    path = tmp_path / "latest.json"
    path.write_text("{not json", encoding="utf-8")
    failing = rounds_figure("e2e / COPY", "rows/s", "COPY", [20.0], [100.0], bar=0.35)
    report = _report("ingestion", [failing]).finish()
    assert report.passed is False
    write_latest(report, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["benches"]["ingestion"]["passed"] is False
    assert data["benches"]["ingestion"]["figures"][0]["passed"] is False


def test_the_report_path_follows_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REPORT_VAR, raising=False)
    assert report_path() == Path("var/bench/latest.json")
    monkeypatch.setenv(REPORT_VAR, str(tmp_path / "x.json"))
    assert report_path() == tmp_path / "x.json"


def test_the_table_shows_ratio_spread_bar_and_verdict_then_absolute_figures() -> None:
    copy = rounds_figure("e2e / COPY", "rows/s", "COPY", [30.0, 40.0], [100.0, 100.0], bar=0.35)
    console = Console(width=200, record=True)
    console.print(table([_report("ingestion", [copy], load=0.7)]))
    text = console.export_text()
    row = next(line for line in text.splitlines() if "e2e / COPY" in line)
    for expected in ("0.350", "0.30-0.40", ">= 0.35", "PASS", "35 rows/s", "COPY: 100"):
        assert expected in row
    assert "ingestion 0.70->?" in text
    assert "cores 2" in text


def test_the_commit_falls_back_to_the_package_version_without_git(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_git(*_: object, **__: object) -> None:
        raise FileNotFoundError("git")

    monkeypatch.setattr(report_module.subprocess, "run", no_git)
    assert report_module.git_commit().startswith(("version ", "unknown"))
