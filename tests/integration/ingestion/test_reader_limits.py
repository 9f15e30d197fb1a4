"""Bombs through the whole ingestion path: refused promptly as input_limit_exceeded (or a
positioned invalid_file), never internal_error, with the upload failed and nothing kept.

The extracts are built in the test: the workbook bomb is a few hundred KB, the 70 MB CSV
line and JSON Lines line are generated lazily while the ingestor reads them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.db import session_scope
from fivesafes.deid.io.types import StreamInput
from fivesafes.ingestion.ingestor import IngestionJob, Ingestor
from fivesafes.ingestion.service import create_upload
from tests.integration.ingestion.conftest import TRAIL
from tests.integration.ingestion.extracts import COLUMNS, synthetic_rows
from tests.unit.deid.test_reader_limits import corrupt_page, lazy
from tests.unit.deid.xlsx_parts import handmade_xlsx

MIB = 1024 * 1024


def header_and_rows(count: int = 3) -> list[list[str]]:
    return [COLUMNS, *[[row[c] for c in COLUMNS] for row in synthetic_rows(count)]]


def csv_head() -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(header_and_rows())
    return out.getvalue().encode()


@pytest.fixture
def ingest_stream(
    load_policy: Callable[..., None], session_factory: sessionmaker[Session], ingestor: Ingestor
) -> Callable[[StreamInput, int], Any]:
    load_policy()

    def run(source: StreamInput, size: int) -> Any:
        sha = hashlib.sha256(source.name.encode() + str(time.time_ns()).encode()).hexdigest()
        with session_scope(session_factory) as session:
            upload = create_upload(
                session, TRAIL, "episodes", filename=source.name, size=size, sha256=sha
            )
        tracemalloc.start()
        started = time.perf_counter()
        try:
            view = ingestor.run(IngestionJob(upload_id=upload.id, source=source, trail=TRAIL))
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / MIB
        finally:
            tracemalloc.stop()
        assert view.state == "failed"
        assert elapsed < 30, f"took {elapsed:.0f} s"
        assert peak < 120, f"peak {peak:.0f} MiB"
        return view.errors[0]

    return run


def test_a_70_mb_csv_line_fails_the_upload_naming_the_limit(
    ingest_stream: Callable[[StreamInput, int], Any],
) -> None:
    source = lazy("episodes.csv", csv_head() + b"9434765919,", b"a" * MIB, 70, b"\n")
    error = ingest_stream(source, 70 * MIB)
    assert (error.code, error.line) == ("input_limit_exceeded", 5)
    assert "FIVESAFES_MAX_LINE_BYTES" in error.message


def test_a_20_mb_field_fails_the_upload_naming_the_limit(
    ingest_stream: Callable[[StreamInput, int], Any],
) -> None:
    source = lazy("episodes.csv", csv_head() + b'9434765919,"', b"n" * MIB, 20, b'",x\n')
    error = ingest_stream(source, 20 * MIB)
    assert (error.code, error.line) == ("input_limit_exceeded", 5)


def test_a_jsonl_line_without_end_fails_the_upload(
    ingest_stream: Callable[[StreamInput, int], Any],
) -> None:
    source = lazy("episodes.jsonl", b'{"nhs_number": "9434765919", "note": "', b"z" * MIB, 70)
    error = ingest_stream(source, 70 * MIB)
    assert (error.code, error.line) == ("input_limit_exceeded", 1)


def test_the_shared_string_bomb_fails_the_upload_promptly(
    ingest_stream: Callable[[StreamInput, int], Any],
) -> None:
    data = handmade_xlsx(header_and_rows(), extra_strings=10_000_000)
    assert len(data) < 600_000
    error = ingest_stream(StreamInput("episodes.xlsx", lambda: io.BytesIO(data)), len(data))
    assert error.code == "input_limit_exceeded"
    assert "FIVESAFES_XLSX_MAX_RATIO" in error.message


def test_a_damaged_parquet_upload_names_row_group_and_column(
    ingest_stream: Callable[[StreamInput, int], Any],
) -> None:
    rows = synthetic_rows(3000)
    table = pa.table({c: [r[c] for r in rows] for c in COLUMNS})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=1000, compression="gzip")
    data = corrupt_page(out.getvalue(), "patient_name")
    error = ingest_stream(StreamInput("episodes.parquet", lambda: io.BytesIO(data)), len(data))
    assert error.code == "invalid_file"
    assert "row group 2 (records 1001-2000)" in error.message
    assert error.column == "patient_name"


def test_a_workbook_within_the_limits_is_ingested(
    load_policy: Callable[..., None], ingest: Callable[..., Any], tmp_path: Path
) -> None:
    load_policy()
    path = tmp_path / "episodes.xlsx"
    path.write_bytes(handmade_xlsx(header_and_rows(20)))
    view = ingest(path)
    assert view.state == "succeeded", view.errors
    assert view.rows_processed == 20
