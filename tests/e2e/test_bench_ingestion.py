"""The ingestion bench's PKCS#11 path, small: a real token, a real server, real figures.

A throw-away SoftHSM2 token is made, the local store's keys are imported into it, and the
same extract is ingested with each store; the bench itself checks the token hands back the
local keys (so both runs compute the same pseudonyms).
"""

from __future__ import annotations

import pytest

from fivesafes.bench.hsm_token import unavailable_reason
from fivesafes.bench.ingestion import run_ingestion_benchmark

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
    ratio = bench.ratio("sqlite")
    assert ratio is not None
    assert ratio > 0
    text = bench.render()
    assert "sqlite     pkcs11" in text
    assert f"pkcs11/local rows/s: sqlite {ratio:.2f}" in text
    assert "pkcs11 start-up" in text
