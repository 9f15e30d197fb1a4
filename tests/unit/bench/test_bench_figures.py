"""Each bench's figures (issue 21): its baseline, the ratio the bar is on, the spread.

Fake measurements, real verdicts: the structured engine against the I/O floor, audit
rounds interleaved within a round, release rounds' spread, the de-identification ceiling
and the Spark ratio.
"""

from __future__ import annotations

import pytest

from fivesafes.bench import audit
from fivesafes.bench.audit import AuditBenchResult, interleaved_round
from fivesafes.bench.deid_bench import DeidBenchmark
from fivesafes.bench.deid_scorer import DeidScore
from fivesafes.bench.ner_ceiling import Rounds, render_ceiling
from fivesafes.bench.release import ReleaseBenchmark, Run
from fivesafes.bench.spark_bench import EngineRun, SparkBenchmark, Workload
from fivesafes.bench.structured import FLOOR_RATIO, SizeResult, StructuredBenchmark


def _size(rows: int, engine: tuple[float, ...], floor: tuple[float, ...], mb: float) -> SizeResult:
    best = min(engine)
    return SizeResult(rows, best, rows / best, mb, 0.0, mb, engine, floor)


def test_the_structured_engine_is_judged_against_the_io_floor_at_its_largest_size() -> None:
    # 100k: ratios 0.1 (not judged); 1M: floor 2 s vs engine 6, 8, 7 s -> 1/3, 1/4, 2/7.
    bench = StructuredBenchmark(
        2,
        [
            _size(100_000, (1.0, 1.0), (0.1, 0.1), 200.0),
            _size(1_000_000, (6.0, 8.0, 7.0), (2.0, 2.0, 2.0), 230.0),
        ],
    )
    figures = {f.name: f for f in bench.figures()}
    small = figures["engine / I/O floor, 100,000 rows"]
    large = figures["engine / I/O floor, 1,000,000 rows"]
    assert (small.bar, small.passed) == (None, None)
    assert large.ratio == pytest.approx(2 / 7)
    assert large.spread == pytest.approx((0.25, 1 / 3))
    assert large.bar == FLOOR_RATIO
    assert large.passed is True
    memory = figures["peak RSS 1,000,000 / 100,000 rows"]
    assert memory.ratio == pytest.approx(1.15)
    assert memory.passed is True
    assert bench.passed
    assert "0.286 (0.250-0.333)" in bench.render()
    grown = StructuredBenchmark(2, [bench.sizes[0], _size(1_000_000, (6.0,), (2.0,), 250.0)])
    assert not grown.passed  # 1.25 > 1.2
    slow = StructuredBenchmark(2, [bench.sizes[0], _size(1_000_000, (9.0,), (2.0,), 210.0)])
    assert not slow.passed  # 0.22 < 0.25


def test_an_audit_round_interleaves_the_variants_and_swaps_their_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int]] = []
    rates = {"http://audited": 80.0, "http://plain": 100.0}

    def fake_load(base: str, token: str, requests: int, clients: int) -> float:
        calls.append((base, requests))
        return rates[base]

    monkeypatch.setattr(audit, "_load", fake_load)
    audited, plain = interleaved_round("http://audited", "http://plain", "t", 100, 4, slices=4)
    assert [base for base, _ in calls] == [
        "http://audited",
        "http://plain",
        "http://plain",
        "http://audited",
        "http://audited",
        "http://plain",
        "http://plain",
        "http://audited",
    ]
    assert {requests for _, requests in calls} == {25}
    assert (audited, plain) == pytest.approx((80.0, 100.0))


def test_audit_reports_the_median_ratio_and_fails_only_below_the_top_of_the_spread() -> None:
    result = AuditBenchResult("postgresql", 1000, 4, [60.0, 70.0, 85.0], [100.0, 100.0, 100.0])
    assert result.ratio == pytest.approx(0.7)
    assert result.passed  # one round reached 0.85
    assert "median of 3 rounds, spread 0.60-0.85" in result.render()
    figure = result.figure()
    assert (figure.ratio, figure.spread, figure.rule) == (
        pytest.approx(0.7),
        pytest.approx((0.6, 0.85)),
        "spread_at_least",
    )
    slow = AuditBenchResult("sqlite", 1000, 4, [60.0, 70.0, 79.0], [100.0, 100.0, 100.0])
    assert not slow.passed


def test_a_release_keeps_best_over_best_and_adds_the_rounds_spread() -> None:
    bench = ReleaseBenchmark(
        1000,
        Run("COPY", 1000, 1.0, 10),
        [Run("csv", 1000, 1.6, 12, 300.0), Run("parquet", 1000, 2.5, 4, 1100.0)],
        {"csv": [0.55, 0.625, 0.6], "parquet": [0.4, 0.38, 0.39]},
    )
    figures = {f.name: f for f in bench.figures()}
    csv = figures["release csv / COPY TO, 1,000 rows"]
    assert csv.ratio == pytest.approx(0.625)
    assert csv.spread == (0.55, 0.625)
    assert csv.passed is True
    assert figures["release parquet / COPY TO, 1,000 rows"].passed is False
    assert figures["release parquet server peak RSS"].passed is False
    assert "62% of COPY (rounds 55%-62%)" in bench.render()
    assert not bench.passed


def test_the_deid_figures_give_presidio_and_the_ner_ceiling_with_their_spreads() -> None:
    rounds = Rounds(plain=[10.0, 12.0], ours=[2.0, 2.0], ceiling=[1.5, 1.7])
    bench = DeidBenchmark(notes=100, workers=2, plain_seconds=22.0, ours_seconds=4.0)
    bench.dev_rounds = rounds
    bench.quality = DeidScore()
    figures = {f.name: f for f in bench.figures()}
    presidio = figures["scrubber / plain Presidio, dev (100 notes)"]
    assert presidio.ratio == pytest.approx(5.5)
    assert presidio.spread == (5.0, 6.0)
    assert presidio.passed is True
    ceiling = figures["scrubber / spaCy NER-only ceiling, dev"]
    assert ceiling.ratio == pytest.approx(0.8)
    assert ceiling.spread == pytest.approx((0.75, 0.85))
    assert ceiling.passed is None  # reported: how close to the model's limit
    assert ceiling.baseline_value == pytest.approx(100 / 3.2)
    lines = render_ceiling(100, rounds)
    assert lines[0] == "  ratio spread over 2 rounds 5.00-6.00x"
    assert "scrubber at 0.80 of it (rounds 0.75-0.85)" in lines[1]
    assert render_ceiling(100, None) == []


def test_the_spark_figure_is_its_ratio_to_the_local_engine() -> None:
    local = EngineRun("local", 1000, 1000, 1.0, 10, 1.0, 300.0)
    spark = EngineRun("spark", 1000, 1000, 2.5, 10, 20.0, 2000.0)
    figure = SparkBenchmark([Workload("structured", local, spark)]).figures()[0]
    assert figure.ratio == pytest.approx(0.4)
    assert figure.bar == 0.5
    assert figure.passed is False
