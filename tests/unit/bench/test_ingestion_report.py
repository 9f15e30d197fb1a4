"""The ingestion bench's verdict and report with the PKCS#11 store beside the local one.

The bar (>= 50,000 rows/s into PostgreSQL, peak RSS < 1 GiB) applies to every key store;
a missing SoftHSM2 or python-pkcs11 skips the PKCS#11 runs with the reason, never silently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fivesafes.bench import hsm_token, ingestion
from fivesafes.bench.hsm_token import StartupCost
from fivesafes.bench.ingestion import (
    TARGET_ROWS_PER_SECOND,
    IngestionBenchmark,
    IngestRun,
    run_ingestion_benchmark,
)


def _run(
    dialect: str, keystore: str, rows_per_second: float, peak_mb: float = 300, cpu: float = 20.0
) -> IngestRun:
    rows = 1_000_000
    startup = StartupCost(8.0, 0.5, {}) if keystore == "pkcs11" else None
    return IngestRun(
        dialect, rows, rows / rows_per_second, peak_mb, 0.3, keystore, startup, cpu_seconds=cpu
    )


def test_a_slow_pkcs11_run_into_postgresql_misses_the_bar() -> None:
    bench = IngestionBenchmark(
        [
            _run("postgresql", "local", 120_000),
            _run("postgresql", "pkcs11", TARGET_ROWS_PER_SECOND - 1),
        ]
    )
    assert not bench.passed
    pkcs11_line = next(line for line in bench.render().splitlines() if " pkcs11 " in line)
    assert pkcs11_line.rstrip().endswith("FAIL")


def test_pkcs11_memory_over_the_cap_misses_the_bar() -> None:
    bench = IngestionBenchmark([_run("postgresql", "pkcs11", 120_000, peak_mb=1024)])
    assert not bench.passed


def test_sqlite_is_reported_but_not_judged() -> None:
    bench = IngestionBenchmark(
        [_run("postgresql", "pkcs11", 120_000), _run("sqlite", "pkcs11", 1_000)]
    )
    assert bench.passed


def test_the_report_gives_the_ratio_and_the_start_up_cost() -> None:
    bench = IngestionBenchmark(
        [
            _run("postgresql", "local", 100_000, cpu=20.0),
            _run("postgresql", "pkcs11", 95_000, cpu=21.0),
        ]
    )
    assert bench.ratio("postgresql") == pytest.approx(0.95)
    assert bench.cpu_ratio("postgresql") == pytest.approx(1.05)
    assert bench.ratio("sqlite") is None
    text = bench.render()
    assert "pkcs11/local rows/s: postgresql 0.95 (server CPU 1.05)" in text
    assert "server CPU  21.0 s" in text
    assert "8.0 + 0.5 = 8.5 ms" in text
    assert "skipped" not in text


def test_a_missing_module_skips_pkcs11_saying_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-module.so"
    monkeypatch.setenv(hsm_token.MODULE_VAR, str(missing))
    bench = run_ingestion_benchmark(rows=10, dialects=("sqlite",), keystores=("pkcs11",))
    assert bench.runs == []
    assert bench.pkcs11_skipped == f"{hsm_token.MODULE_VAR}={missing} is not a file"
    assert f"pkcs11: skipped ({hsm_token.MODULE_VAR}={missing} is not a file)" in bench.render()
    assert bench.passed


def test_without_python_pkcs11_the_reason_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = hsm_token.importlib.util.find_spec
    monkeypatch.setattr(
        hsm_token.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "pkcs11" else real(name, *args),
    )
    reason = hsm_token.unavailable_reason()
    assert reason is not None
    assert "python-pkcs11" in reason


def test_an_unknown_key_store_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'vault'"):
        run_ingestion_benchmark(rows=10, dialects=("sqlite",), keystores=("vault",))


def test_repeated_rounds_alternate_the_stores_and_keep_each_ones_best(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ABBA order, so drift falls on both; fastest round kept, with the largest peak RSS."""
    monkeypatch.setattr(ingestion, "unavailable_reason", lambda: None)
    order: list[str] = []
    speeds = iter([100_000, 90_000, 95_000, 80_000, 110_000, 70_000])
    peaks = iter([300, 310, 320, 330, 340, 350])
    cpus = iter([20.0, 22.0, 19.0, 21.0, 23.0, 24.0])

    def fake(dialect: str, extract: Path, rows: int, keystore: str = "local") -> IngestRun:
        order.append(keystore)
        return _run(dialect, keystore, next(speeds), next(peaks), next(cpus))

    monkeypatch.setattr(ingestion, "_ingest_once", fake)
    bench = run_ingestion_benchmark(rows=10, dialects=("postgresql",), repeats=3)
    assert order == ["local", "pkcs11", "pkcs11", "local", "local", "pkcs11"]
    local, pkcs11 = bench.runs
    assert (local.keystore, local.rows_per_second, local.peak_mb, local.cpu_seconds) == (
        "local",
        pytest.approx(110_000),
        340,
        20.0,
    )
    assert (pkcs11.keystore, pkcs11.rows_per_second, pkcs11.peak_mb, pkcs11.cpu_seconds) == (
        "pkcs11",
        pytest.approx(95_000),
        350,
        19.0,
    )
    assert local.rounds == pkcs11.rounds == 3
    assert "(best of 3)" in bench.render()


def test_zero_rounds_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        run_ingestion_benchmark(rows=10, dialects=("sqlite",), repeats=0)


def test_the_second_dialect_starts_with_the_other_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingestion, "unavailable_reason", lambda: None)
    order: list[tuple[str, str]] = []

    def fake(dialect: str, extract: Path, rows: int, keystore: str = "local") -> IngestRun:
        order.append((dialect, keystore))
        return _run(dialect, keystore, 100_000)

    monkeypatch.setattr(ingestion, "_ingest_once", fake)
    bench = run_ingestion_benchmark(rows=10)
    assert order == [
        ("postgresql", "local"),
        ("postgresql", "pkcs11"),
        ("sqlite", "pkcs11"),
        ("sqlite", "local"),
    ]
    assert [(r.dialect, r.keystore) for r in bench.runs] == [
        ("postgresql", "local"),
        ("postgresql", "pkcs11"),
        ("sqlite", "local"),
        ("sqlite", "pkcs11"),
    ]
