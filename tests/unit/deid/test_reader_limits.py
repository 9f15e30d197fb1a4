"""Size and decompression bombs are refused promptly, in bounded memory, naming the limit.

The bombs are built in the test, small on disk (or generated lazily as a stream): a 70 MB
CSV line, a 20 MB field, a JSON Lines line without end, a workbook whose ten-million
shared strings fit in a few hundred kilobytes, a forged worksheet dimension.
"""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fivesafes.deid.io.csv_source import parse_csv_chunk
from fivesafes.deid.io.limits import LIMIT_CODE, MIB, ReaderLimits
from fivesafes.deid.io.sources import open_source
from fivesafes.deid.io.types import CellProblem, StreamInput
from fivesafes.errors import InputFileError
from tests.unit.deid.xlsx_parts import handmade_xlsx

HEADER = b"nhs_number,note\n"
SMALL = ReaderLimits(
    max_field_bytes=64 * 1024,
    max_line_bytes=256 * 1024,
    max_cells_per_row=50,
    xlsx_max_uncompressed_bytes=4 * MIB,
    xlsx_max_ratio=200,
    xlsx_max_shared_strings=1000,
)


class LazyStream(io.RawIOBase):
    """``head``, then ``filler`` repeated ``count`` times, then ``tail``: never in memory."""

    def __init__(self, head: bytes, filler: bytes, count: int, tail: bytes = b"") -> None:
        self._filler, self._left, self._tail = filler, count, tail
        self._pending = head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            if self._left > 0:
                self._pending, self._left = self._filler, self._left - 1
            elif self._tail:
                self._pending, self._tail = self._tail, b""
            else:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def lazy(name: str, head: bytes, filler: bytes, count: int, tail: bytes = b"") -> StreamInput:
    def opener() -> BinaryIO:
        return io.BufferedReader(LazyStream(head, filler, count, tail), 1 << 16)

    return StreamInput(name, opener)


def read_all(source_input: Path | StreamInput, limits: ReaderLimits) -> None:
    """Read and parse every chunk as the engine does; CellProblem as InputFileError."""
    source = open_source(source_input, limits=limits)
    try:
        for chunk in source.chunks(1000):
            if chunk.csv_bytes is not None:
                try:
                    parse_csv_chunk(chunk, source.header, "utf-8", limits)
                except CellProblem as problem:
                    raise InputFileError(
                        problem.reason,
                        file=source.file,
                        line=problem.line,
                        column=problem.column,
                        code=problem.code,
                    ) from None
    finally:
        source.close()


def refusal(
    source_input: Path | StreamInput, limits: ReaderLimits, *, peak_mb: float, seconds: float
) -> InputFileError:
    """The refusal, asserting it came within ``seconds`` and ``peak_mb`` of Python memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InputFileError) as info:
            read_all(source_input, limits)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    assert peak < peak_mb, f"peak {peak:.0f} MB"
    return info.value


# ------------------------------------------------------------------------------ CSV


def test_a_70_mb_csv_line_is_refused_at_the_line_limit() -> None:
    source = lazy("x.csv", HEADER + b"9434765919,", b"a" * MIB, 70, b"\n")
    error = refusal(source, ReaderLimits(), peak_mb=80, seconds=10)
    assert error.code == LIMIT_CODE
    assert (error.line, error.column) == (2, None)
    assert "16 MiB" in error.reason
    assert "FIVESAFES_MAX_LINE_BYTES" in error.reason


def test_a_20_mb_field_is_refused_before_it_is_parsed() -> None:
    source = lazy("x.csv", HEADER + b'9434765919,"', b"note " * 200_000, 20, b'"\n')
    error = refusal(source, ReaderLimits(), peak_mb=80, seconds=10)
    assert error.code == LIMIT_CODE
    assert error.line == 2


def test_a_field_over_the_field_limit_names_line_and_column() -> None:
    rows = b"".join(b"9434765919,short note\n" for _ in range(5))
    big = b'9434765919,"' + b"x, " * 30_000 + b'"\n'  # 90 KB: within the line limit
    source = lazy("x.csv", HEADER + rows, big, 1)
    error = refusal(source, SMALL, peak_mb=20, seconds=5)
    assert error.code == LIMIT_CODE
    assert (error.line, error.column) == (7, "note")
    assert "64 KiB" in error.reason
    assert "FIVESAFES_MAX_FIELD_BYTES" in error.reason


def test_fields_within_the_limit_are_read(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(HEADER + b'9434765919,"' + b"y" * (60 * 1024) + b'"\n')
    read_all(path, SMALL)


def test_a_header_with_too_many_cells_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b",".join(b"c%d" % i for i in range(51)) + b"\n1\n")
    with pytest.raises(InputFileError) as info:
        read_all(path, SMALL)
    assert info.value.code == LIMIT_CODE
    assert "more than 50 columns" in info.value.reason
    assert "FIVESAFES_MAX_CELLS_PER_ROW" in info.value.reason


def test_a_line_of_commas_is_refused_before_it_is_parsed() -> None:
    source = lazy("x.csv", HEADER + b"a,b\n1,", b"," * MIB, 15, b"\n")
    error = refusal(source, ReaderLimits(), peak_mb=60, seconds=5)
    assert (error.code, error.line) == (LIMIT_CODE, 3)
    assert "more than 4096 cells" in error.reason


def test_a_header_of_commas_is_refused_before_it_is_parsed() -> None:
    error = refusal(
        lazy("x.csv", b"a,", b"," * MIB, 15, b"\n1\n"), ReaderLimits(), peak_mb=60, seconds=5
    )
    assert (error.code, error.line) == (LIMIT_CODE, 1)
    assert "more than 4096 columns" in error.reason


def test_commas_inside_quoted_notes_are_not_cells(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    note = '"' + ", ".join(["word"] * 500) + "\nsecond line, " + "x," * 100 + '"'
    path.write_bytes(HEADER + "".join(f"1,{note}\n" for _ in range(3)).encode())
    read_all(path, SMALL)  # 600 commas a row, all quoted: the row has 2 cells


# ------------------------------------------------------------------------ JSON Lines


def test_a_jsonl_line_without_end_is_refused_at_the_line_limit() -> None:
    source = lazy("x.jsonl", b'{"nhs_number": "1"}\n{"note": "', b"z" * MIB, 70, b'"}\n')
    error = refusal(source, ReaderLimits(), peak_mb=60, seconds=10)
    assert error.code == LIMIT_CODE
    assert error.line == 2
    assert "FIVESAFES_MAX_LINE_BYTES" in error.reason


def test_a_jsonl_value_over_the_field_limit_names_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"nhs_number": "1", "note": "a"}\n{"note": "' + "n" * 70_000 + '"}\n')
    with pytest.raises(InputFileError) as info:
        read_all(path, SMALL)
    assert (info.value.code, info.value.line, info.value.column) == (LIMIT_CODE, 2, "note")


# ------------------------------------------------------------------------------ XLSX


def xlsx(data: bytes) -> StreamInput:
    return StreamInput("x.xlsx", lambda: io.BytesIO(data))


ROWS = [["nhs_number", "note"], ["9434765919", "seen in clinic"]]


def test_a_workbook_that_reads_normally() -> None:
    source = open_source(xlsx(handmade_xlsx(ROWS)), limits=SMALL)
    assert source.header == ["nhs_number", "note"]
    assert [c.columns for c in source.chunks(10)] == [[["9434765919"], ["seen in clinic"]]]


@pytest.fixture(scope="module")
def ten_million_strings() -> bytes:
    """The red team's bomb: ten million empty shared strings, a few hundred KB zipped."""
    return handmade_xlsx(ROWS, extra_strings=10_000_000)


def test_the_shared_string_bomb_is_refused_by_its_ratio(ten_million_strings: bytes) -> None:
    assert len(ten_million_strings) < 600_000
    error = refusal(xlsx(ten_million_strings), ReaderLimits(), peak_mb=20, seconds=2)
    assert error.code == LIMIT_CODE
    assert "'xl/sharedStrings.xml'" in error.reason
    assert "FIVESAFES_XLSX_MAX_RATIO" in error.reason


def test_shared_strings_are_counted_while_streaming(ten_million_strings: bytes) -> None:
    limits = ReaderLimits(xlsx_max_ratio=100_000, xlsx_max_uncompressed_bytes=1024 * MIB)
    error = refusal(xlsx(ten_million_strings), limits, peak_mb=20, seconds=5)
    assert error.code == LIMIT_CODE
    assert "more than 2,000,000 shared strings" in error.reason
    assert "FIVESAFES_XLSX_MAX_SHARED_STRINGS" in error.reason


def test_a_part_over_the_uncompressed_limit_is_refused() -> None:
    data = handmade_xlsx(ROWS, extra_parts={"xl/media/big.bin": b"\x00" * (5 * MIB)})
    limits = ReaderLimits(xlsx_max_uncompressed_bytes=4 * MIB, xlsx_max_ratio=100_000)
    error = refusal(xlsx(data), limits, peak_mb=20, seconds=2)
    assert "'xl/media/big.bin'" in error.reason
    assert "FIVESAFES_XLSX_MAX_UNCOMPRESSED_BYTES" in error.reason


def test_a_forged_dimension_does_not_pad_rows() -> None:
    data = handmade_xlsx(ROWS, dimension="A1:XFD1048576")
    started = time.perf_counter()
    source = open_source(xlsx(data), limits=ReaderLimits())
    chunks = [c.columns for c in source.chunks(10)]
    assert time.perf_counter() - started < 2
    assert source.header == ["nhs_number", "note"]
    assert chunks == [[["9434765919"], ["seen in clinic"]]]


def test_a_row_with_too_many_cells_is_refused() -> None:
    wide = b'<row r="3"><c r="A3" t="s"><v>0</v></c><c r="CZ3" t="s"><v>0</v></c></row>'
    # CZ is column 104: the row is 104 cells wide, more than the limit of 50
    data = handmade_xlsx(ROWS, sheet_tail=wide)
    with pytest.raises(InputFileError) as info:
        read_all(xlsx(data), SMALL)
    assert (info.value.code, info.value.line) == (LIMIT_CODE, 3)
    assert "104 cells" in info.value.reason


def test_a_long_xlsx_cell_is_refused_naming_its_place() -> None:
    data = handmade_xlsx([*ROWS, ["9434765919", "w" * 70_000]])
    with pytest.raises(InputFileError) as info:
        read_all(xlsx(data), SMALL)
    assert (info.value.code, info.value.line, info.value.column) == (LIMIT_CODE, 3, "note")


# --------------------------------------------------------------------------- Parquet


def parquet(table: pa.Table, **options: object) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, **options)  # type: ignore[arg-type]
    return out.getvalue()


TABLE = pa.table(
    {
        "nhs_number": [str(9434765919 + i) for i in range(3000)],
        "note": [f"note {i} " * 5 for i in range(3000)],
    }
)


def corrupt_page(data: bytes, column: str) -> bytes:
    """Damage the first data page of ``column`` in the second row group."""
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    chunk = meta.row_group(1).column(names.index(column))
    start = chunk.data_page_offset + 40  # past the page header, into compressed data
    damaged = bytearray(data)
    for i in range(start, start + 64):
        damaged[i] ^= 0x5A
    return bytes(damaged)


def test_a_damaged_parquet_page_names_row_group_and_column() -> None:
    data = corrupt_page(parquet(TABLE, row_group_size=1000, compression="gzip"), "note")
    source = open_source(StreamInput("x.parquet", lambda: io.BytesIO(data)))
    with pytest.raises(InputFileError) as info:
        for _ in source.chunks(500):
            pass
    error = info.value
    assert "row group 2 (records 1001-2000)" in error.reason
    assert error.column == "note"
    assert error.line is not None
    assert 1001 <= error.line <= 2000
    assert "943476" not in str(error)


def test_parquet_metadata_that_is_not_utf8_is_an_input_file_error() -> None:
    data = bytearray(parquet(pa.table({"nhs_number": ["1"]}), store_schema=False))
    at = data.find(b"nhs_number")
    data[at] = 0xA6  # the column's name in the footer's schema: no longer UTF-8
    with pytest.raises(InputFileError):
        open_source(StreamInput("x.parquet", lambda: io.BytesIO(bytes(data))))


def test_a_long_parquet_cell_is_refused_naming_its_place() -> None:
    table = pa.table({"nhs_number": ["1", "2"], "note": ["short", "q" * 70_000]})
    data = parquet(table)
    with pytest.raises(InputFileError) as info:
        read_all(StreamInput("x.parquet", lambda: io.BytesIO(data)), SMALL)
    assert (info.value.code, info.value.line, info.value.column) == (LIMIT_CODE, 2, "note")
