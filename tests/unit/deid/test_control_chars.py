"""Control characters in any cell of any format: the file is refused, naming the place.

The message names the file, line and column and the character's code point, never the
cell's value (which would be a patient's identifier).
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fivesafes.deid.io.control import find_control, first_control_in_column
from fivesafes.deid.io.csv_source import parse_csv_chunk
from fivesafes.deid.io.sources import open_source
from fivesafes.deid.io.types import CellProblem
from fivesafes.errors import InputFileError

SECRET = "Ruth Kay 9434765919"
REFUSED = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x80", "\x9f"]
ALLOWED = ["\t", "\n", "\r", " ", "é", "€", "\u00a0", "\u2028", "\ufeff"]


def read_everything(path: Path, encoding: str = "utf-8") -> None:
    source = open_source(path, encoding=encoding)
    try:
        for chunk in source.chunks(2):
            if chunk.csv_bytes is not None:
                parse_csv_chunk(chunk, source.header, encoding)
    finally:
        source.close()


def refusal(path: Path, encoding: str = "utf-8") -> tuple[int | None, str | None, str]:
    try:
        read_everything(path, encoding)
    except CellProblem as exc:
        return exc.line, exc.column, exc.reason
    except InputFileError as exc:
        return exc.line, exc.column, f"{exc.file}: {exc}"
    raise AssertionError("not refused")


def assert_no_data(message: str) -> None:
    for word in SECRET.split():
        assert word not in message


@pytest.mark.parametrize("char", REFUSED)
def test_find_control_refuses(char: str) -> None:
    assert find_control(f"ab{char}cd") == 2


@pytest.mark.parametrize("char", ALLOWED)
def test_find_control_allows(char: str) -> None:
    assert find_control(f"ab{char}cd") == -1


def test_lone_surrogates_are_refused() -> None:
    assert find_control("a\ud800") == 1
    assert first_control_in_column(["ok", None, "", "x\udfffy"]) == (3, "\udfff")
    assert first_control_in_column(["ok", None, "fine"]) is None


@pytest.mark.parametrize("char", REFUSED)
def test_csv_cell(tmp_path: Path, char: str) -> None:
    path = tmp_path / "extract.csv"
    body = f"id,note\n1,fine\n2,fine\n3,fine\n4,{SECRET}{char}more\n5,fine\n"
    path.write_bytes(body.encode("utf-8"))
    line, column, reason = refusal(path)
    assert (line, column) == (5, "note")
    assert f"U+{ord(char):04X}" in reason
    assert_no_data(reason)


def test_csv_line_counts_multi_line_records(tmp_path: Path) -> None:
    path = tmp_path / "extract.csv"
    path.write_bytes(b'id,note\n1,"two\nlines"\n2,"three\n\nlines\x00"\n')
    assert refusal(path)[:2] == (4, "note")  # where the record starts


def test_csv_nul_in_a_field_beyond_the_header(tmp_path: Path) -> None:
    path = tmp_path / "extract.csv"
    path.write_bytes(b"id,note\n1,a,b\x00\n")
    line, column, _ = refusal(path)
    assert (line, column) == (2, "(field 3, beyond the header)")


def test_csv_header(tmp_path: Path) -> None:
    path = tmp_path / "extract.csv"
    path.write_bytes(b"id,no\x00te\n1,a\n")
    with pytest.raises(InputFileError, match="U\\+0000") as info:
        open_source(path)
    assert (info.value.line, info.value.column) == (1, "(field 2)")


def test_csv_latin1_c1_hints_at_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "extract.csv"
    path.write_bytes(b"id,note\n1,\x93quoted\x94\n")
    line, column, reason = refusal(path, "latin-1")
    assert (line, column) == (2, "note")
    assert "cp1252" in reason
    read_everything(path, "cp1252")  # the right encoding reads it


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x7f", "\x85", "\ud800"])
def test_jsonl_value(tmp_path: Path, char: str) -> None:
    path = tmp_path / "extract.jsonl"
    lines = [
        json.dumps({"id": "1", "note": "fine"}),
        json.dumps({"id": "2", "note": SECRET + char}),
    ]
    path.write_text("\n".join(lines) + "\n")
    line, column, reason = refusal(path)
    assert (line, column) == (2, "note")
    assert_no_data(reason)


def test_jsonl_raw_c1_character(tmp_path: Path) -> None:
    path = tmp_path / "extract.jsonl"
    path.write_bytes(b'{"id": "1", "note": "a\xc2\x85b"}\n')  # U+0085 unescaped: valid JSON
    assert refusal(path)[:2] == (1, "note")


def test_jsonl_key(tmp_path: Path) -> None:
    path = tmp_path / "extract.jsonl"
    path.write_text('{"id": "1", "no\\u0000te": "x"}\n')
    assert refusal(path)[:2] == (1, "(key 2)")


@pytest.mark.parametrize("char", ["\x7f", "\x85", "\x9f"])  # XML 1.0 cannot hold C0 controls
def test_xlsx_cell(tmp_path: Path, char: str) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "note"])
    sheet.append([1, "fine"])
    sheet.append([2, SECRET + char])
    path = tmp_path / "extract.xlsx"
    book.save(path)
    line, column, reason = refusal(path)
    assert (line, column) == (3, "note")
    assert_no_data(reason)


@pytest.mark.parametrize("char", REFUSED)
def test_parquet_cell(tmp_path: Path, char: str) -> None:
    path = tmp_path / "extract.parquet"
    notes = ["fine"] * 5 + [SECRET + char] + ["fine"]
    pq.write_table(pa.table({"id": list(range(7)), "note": notes}), path)
    line, column, reason = refusal(path)
    assert (line, column) == (6, "note")
    assert_no_data(reason)


def test_parquet_column_name(tmp_path: Path) -> None:
    path = tmp_path / "extract.parquet"
    pq.write_table(pa.table({"id": [1], "no\x00te": ["x"]}), path)
    with pytest.raises(InputFileError, match="U\\+0000") as info:
        open_source(path)
    assert (info.value.line, info.value.column) == (1, "(field 2)")
