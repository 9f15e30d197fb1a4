"""The ingestion bench, small: a real server, real baselines, real figures.

A throw-away SoftHSM2 token is made, the local store's keys are imported into it, and the
same extract is ingested with each store; the bench itself checks the token hands back the
local keys (so both runs compute the same pseudonyms). Into PostgreSQL, the same round
measures COPY FROM of the committed rows and the engine alone on the same file (issue 21).
"""

from __future__ import annotations

import pytest

from fivesafes.bench.hsm_token import unavailable_reason
from fivesafes.bench.ingestion import run_ingestion_benchmark
from fivesafes.bench.ingestion_baselines import COPY_RATIO

ROWS = 2_000


@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_the_pkcs11_figure_is_produced_beside_the_local_one() -> None:
    bench = run_ingestion_benchmark(rows=ROWS, dialects=("sqlite",))
    assert bench.pkcs11_skipped is None
    assert [(r.dialect, r.keystore) for r in bench.runs] == [
        ("sqlite", "local"),
        ("sqlite", "pkcs11"),
    ]
    pkcs11 = bench.runs[1]
    assert pkcs11.rows == ROWS
    assert pkcs11.rows_per_second > 0
    assert pkcs11.peak_mb > 0
    assert pkcs11.cpu_seconds > 0
    assert pkcs11.startup is not None
    assert 0 < pkcs11.startup.total_ms < 60_000
    assert bench.runs[0].startup is None
    for run in bench.runs:
        assert run.copy_seconds is None  # no COPY on SQLite: reported against the engine
        assert run.engine_seconds is not None
        assert run.engine_seconds > 0
        assert run.phases is not None
        assert run.phases.processing > 0
    ratio = bench.ratio("sqlite")
    assert ratio is not None
    assert ratio > 0
    text = bench.render()
    assert "sqlite     pkcs11" in text
    assert f"pkcs11/local rows/s: sqlite {ratio:.2f}" in text
    assert "pkcs11 start-up" in text


@pytest.mark.postgres
def test_into_postgresql_the_round_measures_copy_from_and_the_engine_alone() -> None:
    bench = run_ingestion_benchmark(rows=ROWS, dialects=("postgresql",), keystores=("local",))
    (run,) = bench.runs
    assert run.copy_seconds is not None
    assert 0 < run.copy_seconds < run.seconds  # loading alone is a part of the whole
    assert run.engine_seconds is not None
    assert run.engine_seconds > 0
    assert run.copy_ratio == pytest.approx(run.copy_seconds / run.seconds)
    figures = {f.name: f for f in bench.figures()}
    copy = figures["end-to-end / COPY FROM, postgresql local"]
    assert copy.bar == COPY_RATIO
    assert copy.baseline_value == pytest.approx(ROWS / run.copy_seconds)
    assert figures["server peak RSS, postgresql local"].passed is True
    assert "of COPY FROM" in bench.render()
