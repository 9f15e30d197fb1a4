"""``fivesafes bench spark`` at tiny sizes: real engine runs in fresh interpreters, real
figures, and the bar logic that turns them into PASS/FAIL and the exit code."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fivesafes.bench import spark_bench
from fivesafes.bench.report import REPORT_VAR
from fivesafes.bench.spark_bench import (
    BARS,
    WARMUP_ROWS,
    EngineRun,
    SparkBenchmark,
    Workload,
    best_of,
    run_spark_benchmark,
    write_notes,
)
from fivesafes.cli import bench_commands
from tests.integration.spark.extracts import DEV_EXTRACT

pytestmark = [pytest.mark.slow, pytest.mark.spark]

NOTES = 30
ROWS = 3_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A --data-dir holding deid/dev-extract.csv (the repository's 200 dev notes)."""
    folder = tmp_path_factory.mktemp("bench-data")
    (folder / "deid").mkdir()
    (folder / "deid" / "dev-extract.csv").write_bytes(DEV_EXTRACT.read_bytes())
    return folder


@pytest.fixture(scope="module")
def bench(data_dir: Path) -> SparkBenchmark:
    return run_spark_benchmark(data_dir, notes=NOTES, rows=ROWS, repeats=1)


def _run(engine: str, rows: int, seconds: float) -> EngineRun:
    return EngineRun(engine, rows, rows, seconds, 10, 1.0, 100.0)


def test_every_run_counts_the_input_rows_and_has_its_own_figures(bench: SparkBenchmark) -> None:
    assert [w.name for w in bench.workloads] == ["free text", "structured"]
    expected = {"free text": NOTES, "structured": ROWS}
    for workload in bench.workloads:
        for run in (workload.local, workload.spark):
            assert run.rows == expected[workload.name]
            assert run.rows_out == run.rows  # nothing in either extract is rejected
            assert run.warmup_rows == min(WARMUP_ROWS[workload.name], run.rows)
            assert run.seconds > 0
            assert run.cold_seconds > 0
            assert run.rows_per_second == pytest.approx(run.rows / run.seconds)
        # The JVM and its Python workers are in the sampled tree: far above one interpreter.
        assert workload.local.peak_mb > 50
        assert workload.spark.peak_mb > workload.local.peak_mb
        assert workload.ratio == pytest.approx(
            workload.spark.rows_per_second / workload.local.rows_per_second
        )
        assert workload.passed == (workload.ratio >= BARS[workload.name])
    assert bench.passed == all(w.passed for w in bench.workloads)
    table = bench.render()
    assert f"{bench.workloads[0].ratio:.2f}" in table
    assert table.endswith("PASS" if bench.passed else "FAIL")


def test_the_bars_are_the_issue_s_and_any_miss_fails() -> None:
    free = Workload("free text", _run("local", 1000, 1.0), _run("spark", 1000, 1.0 / 0.7))
    structured = Workload("structured", _run("local", 1000, 1.0), _run("spark", 1000, 2.1))
    assert free.ratio == pytest.approx(0.7)
    assert free.passed
    assert structured.ratio == pytest.approx(1 / 2.1)
    assert not structured.passed
    bench = SparkBenchmark([free, structured])
    assert not bench.passed
    lines = bench.render().splitlines()
    assert [line.split()[-1] for line in lines if line.startswith(("free", "structured"))] == [
        "100",
        "PASS",
        "100",
        "FAIL",
    ]
    assert SparkBenchmark([free]).passed


def test_each_engine_keeps_its_fastest_round_and_its_largest_peak() -> None:
    slow = EngineRun("spark", 100, 100, 4.0, 10, 30.0, 900.0)
    fast = EngineRun("spark", 100, 100, 2.0, 10, 40.0, 700.0)
    best = best_of([slow, fast])
    assert (best.seconds, best.cold_seconds, best.peak_mb) == (2.0, 40.0, 900.0)
    assert best.rows_per_second == 50.0


def test_the_notes_are_cycled_to_the_asked_count(tmp_path: Path) -> None:
    target = tmp_path / "notes.csv"
    assert write_notes(DEV_EXTRACT, target, 450) == 450
    with DEV_EXTRACT.open(newline="", encoding="utf-8") as handle:
        source = list(csv.DictReader(handle))
    with target.open(newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 450
    assert written == [source[i % len(source)] for i in range(450)]


def test_the_command_exits_non_zero_when_a_bar_is_missed(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The CLI wiring, with the measured runs replaced by figures either side of the bars;
    the ratio lands in the report file (issue 21)."""
    figures = {"spark": 1.0}
    latest = tmp_path / "latest.json"
    monkeypatch.setenv(REPORT_VAR, str(latest))

    def fake(folder: Path, notes: int, rows: int, repeats: int) -> SparkBenchmark:
        assert (folder, notes, rows, repeats) == (data_dir, 5, 7, 1)
        spark = _run("spark", 1000, figures["spark"])
        return SparkBenchmark([Workload("structured", _run("local", 1000, 1.0), spark)])

    monkeypatch.setattr(spark_bench, "run_spark_benchmark", fake)
    app = typer.Typer()
    app.add_typer(bench_commands.bench_app, name="bench")
    args = ["bench", "spark", "--data-dir", str(data_dir), "--notes", "5", "--rows", "7"]
    args += ["--repeats", "1"]
    passed = CliRunner().invoke(app, args)
    assert passed.exit_code == 0, passed.output
    assert "PASS" in passed.output
    figures["spark"] = 2.5  # ratio 0.4 < 0.5
    failed = CliRunner().invoke(app, args)
    assert failed.exit_code == 1
    assert "FAIL" in failed.output
    (figure,) = json.loads(latest.read_text(encoding="utf-8"))["benches"]["spark"]["figures"]
    assert figure["ratio"] == pytest.approx(0.4)
    assert figure["passed"] is False
