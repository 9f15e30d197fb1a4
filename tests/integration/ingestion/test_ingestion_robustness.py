"""Uploads of corrupt or awkward extracts fail with a position, never a traceback or a value.

The upload route hands the spooled file to the same ingestor as here; what reaches the
uploader is the failed upload's errors (file, line, column, message).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ingestion.extracts import dev_rows, write_csv

Ingest = Callable[..., Any]


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x7f", "\x9f"])
def test_a_control_character_fails_the_upload_naming_line_and_column(
    load_policy: Callable[..., None], ingest: Ingest, tmp_path: Path, char: str
) -> None:
    load_policy()
    rows = dev_rows(30)
    secret = rows[11]["patient_name"]
    rows[11]["patient_name"] = secret + char
    view = ingest(write_csv(tmp_path / "episodes.csv", rows))
    assert view.state == "failed"
    error = view.errors[0]
    assert (Path(error.file or "").name, error.line, error.column) == (
        "episodes.csv",
        13,
        "patient_name",
    )
    assert f"U+{ord(char):04X}" in error.message
    dumped = json.dumps([e.model_dump() for e in view.errors])
    assert secret not in dumped
    assert "Traceback" not in dumped


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("episodes.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff"),
        ("episodes.csv", b""),
        ("episodes.jsonl", b'{"nhs_number": "1"}\n[1, 2]\n'),
        ("episodes.xlsx", b"PK\x03\x04 truncated"),
        ("episodes.parquet", b"PAR1\x00\x00PAR1"),
    ],
    ids=["binary-csv", "empty", "jsonl-array", "truncated-xlsx", "truncated-parquet"],
)
def test_corrupt_files_fail_the_upload_cleanly(
    load_policy: Callable[..., None], ingest: Ingest, tmp_path: Path, name: str, content: bytes
) -> None:
    load_policy()
    path = tmp_path / name
    path.write_bytes(content)
    view = ingest(path)
    assert view.state == "failed"
    assert view.errors
    assert "Traceback" not in json.dumps([e.model_dump() for e in view.errors])
