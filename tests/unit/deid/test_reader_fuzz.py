"""Any bytes at all, named .csv or .jsonl: the readers parse them or raise InputFileError.

Never another exception type: through the CLI or an upload, that would be a traceback
(and a traceback can print a line of the extract).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.deid.io.csv_source import parse_csv_chunk
from fivesafes.deid.io.sources import open_source
from fivesafes.deid.io.types import CellProblem, StreamInput
from fivesafes.errors import InputFileError

# Bytes that matter to the readers, mixed with anything.
interesting = st.lists(
    st.one_of(
        st.sampled_from(
            [
                *(b",", b'"', b"\n", b"\r", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"\xff"),
                *(b"{", b"}", b"[", b"]", b":", b'"a"', b"1e999", b"\\u0000", b"\\ud800"),
                *(b"null", b"a"),
            ]
        ),
        st.binary(max_size=8),
    ),
    max_size=60,
).map(b"".join)


def read(data: bytes, name: str, encoding: str = "utf-8") -> None:
    """Everything a run does with the reader: open, chunk, parse (in the parent here)."""
    source = open_source(StreamInput(name, lambda: io.BytesIO(data), len(data)), encoding=encoding)
    try:
        for chunk in source.chunks(3):
            if chunk.csv_bytes is not None:
                try:
                    parse_csv_chunk(chunk, source.header, encoding)
                except CellProblem as problem:  # the engine turns this into InputFileError
                    raise InputFileError(
                        problem.reason, file=name, line=problem.line, column=problem.column
                    ) from None
        source.sha256()
    finally:
        source.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=300), interesting))
@pytest.mark.parametrize("name", ["in.csv", "in.jsonl"])
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_arbitrary_bytes_parse_or_raise_input_file_error(
    name: str, encoding: str, data: bytes
) -> None:
    try:
        read(data, name, encoding)
    except InputFileError as exc:
        problem = exc
    else:
        return
    assert problem.file == name


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("in.csv", b""),
        ("in.csv", b"\xef\xbb\xbf"),
        ("in.csv", b"id,note"),  # header only, no newline
        ("in.csv", b"id,note\r\n"),  # header only
        ("in.csv", b"id,note\r\n1,a\n2,b\r3,c\r\n"),  # mixed line endings (a bare CR)
        ("in.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),  # binary named .csv
        ("in.csv", b"\xff\xfei\x00d\x00\n\x00"),  # UTF-16 with its BOM
        ("in.csv", b"id," + b"x" * 2_000_000 + b"\n1,2\n"),  # a gigantic header
        ("in.csv", b'id,note\n1,"' + b"a" * (17 * 1024 * 1024) + b'"\n'),  # beyond the limit
        ("in.jsonl", b""),
        ("in.jsonl", b"[1, 2]\n"),  # not an object
        ("in.jsonl", b'{"id": 1}\n"text"\n'),  # a later line not an object
        ("in.jsonl", b'{"id": ' + b"9" * 5000 + b"}\n"),  # beyond int conversion
        ("in.jsonl", b'{"id": ' + b"[" * 100_000 + b"}\n"),  # nesting
        ("in.jsonl", b'{"id": {"a": 1}}\n'),  # nested value
        ("in.xlsx", b"PK\x03\x04 truncated"),
        ("in.parquet", b"PAR1 truncated PAR1"),
        ("in.parquet", b""),
    ],
)
def test_awkward_inputs_parse_or_raise_input_file_error(name: str, data: bytes) -> None:
    """Header-only files are valid (no rows); everything else here is refused."""
    header_only = data.startswith(b"id,note") and data.count(b"\n") <= 1 and b'"' not in data
    if header_only or data.startswith(b"id,xxx"):  # a 2 MB column name is still a name
        read(data, name)
        return
    with pytest.raises(InputFileError):
        read(data, name)


def test_a_five_megabyte_cell_is_read(tmp_path: Path) -> None:
    data = b'id,note\n1,"' + b"word, " * (5 * 1024 * 1024 // 6) + b'"\n2,short\n'
    read(data, "in.csv")


def workbook_bytes() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "note", "total"])
    sheet.append([1, "a", "=1/0"])  # a formula (read as its cached value: none here)
    sheet.append([2, "#DIV/0!", None])  # an error cell's text
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_with_formula_and_error_cells_is_read() -> None:
    read(workbook_bytes(), "in.xlsx")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_xlsx_raises_input_file_error(keep: float) -> None:
    data = workbook_bytes()
    with pytest.raises(InputFileError):
        read(data[: int(len(data) * keep)], "in.xlsx")


def test_xlsx_with_a_broken_sheet_raises_input_file_error() -> None:
    source = io.BytesIO(workbook_bytes())
    broken = io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(broken, "w") as new:
        for item in old.infolist():
            content = old.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                content = content.replace(b"</sheetData>", b"<row r='9'><c r='A9'><v>1</v>\x01")
            new.writestr(item, content)
    with pytest.raises(InputFileError):
        read(broken.getvalue(), "in.xlsx")


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "table",
    [
        pa.table({"id": [1], "nested": [{"a": 1}]}),
        pa.table({"id": [1], "items": [[1, 2]]}),
        pa.table({"id": [1], "blob": pa.array([b"\xff\xfe"], pa.binary())}),
    ],
    ids=["struct", "list", "binary"],
)
def test_parquet_nested_or_binary_columns_raise_input_file_error(table: pa.Table) -> None:
    with pytest.raises(InputFileError):
        read(parquet_bytes(table), "in.parquet")


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.8, 0.95])
def test_truncated_parquet_raises_input_file_error(keep: float) -> None:
    data = parquet_bytes(pa.table({"id": list(range(1000)), "note": ["text"] * 1000}))
    with pytest.raises(InputFileError):
        read(data[: int(len(data) * keep)], "in.parquet")


def test_jsonl_values_round_trip_as_text() -> None:
    record = {"id": 1, "ok": True, "n": 1.5, "none": None}
    read(json.dumps(record).encode() + b"\n", "in.jsonl")
