"""Readers and writers: chunking at record boundaries, positions in errors, formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.deid.io import csv_source
from fivesafes.deid.io.csv_source import parse_csv_chunk
from fivesafes.deid.io.sources import open_source
from fivesafes.deid.io.types import CellProblem, ParsedChunk
from fivesafes.deid.io.writers import AtomicOutput, encode_csv, encode_jsonl
from fivesafes.deid.plan import OutputColumn
from fivesafes.errors import InputFileError

cells = st.text(alphabet=st.sampled_from(list("ab ,\"\n\r'é€x1")), max_size=12)


def read_all(
    path: Path, rows_hint: int, encoding: str = "utf-8"
) -> tuple[list[str], list[list[str | None]], list[int]]:
    source = open_source(path, encoding=encoding)
    try:
        rows: list[list[str | None]] = []
        lines: list[int] = []
        for chunk in source.chunks(rows_hint):
            if chunk.csv_bytes is not None:
                parsed = parse_csv_chunk(chunk, source.header, encoding)
            else:
                parsed = ParsedChunk.of_columns(chunk)
            rows.extend(list(r) for r in zip(*parsed.columns, strict=True))
            lines.extend(parsed.line_of(i) for i in range(parsed.row_count))
        return source.header, rows, lines
    finally:
        source.close()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(st.lists(cells, min_size=3, max_size=3), max_size=40),
    rows_hint=st.integers(1, 7),
    block=st.integers(8, 200),
    crlf=st.booleans(),
)
def test_chunks_reassemble_to_the_original_records(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    records: list[list[str]],
    rows_hint: int,
    block: int,
    crlf: bool,
) -> None:
    monkeypatch.setattr(csv_source, "_BLOCK", block)
    buffer = io.StringIO()
    # csv.writer only quotes a lone CR when it is part of the line terminator.
    writer = csv.writer(
        buffer,
        lineterminator="\r\n" if crlf else "\n",
        quoting=csv.QUOTE_MINIMAL if crlf else csv.QUOTE_ALL,
    )
    writer.writerow(["a", "b", "c"])
    writer.writerows(records)
    path = tmp_path / "x.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    header, rows, lines = read_all(path, rows_hint)
    expected = [r for r in csv.reader(io.StringIO(buffer.getvalue(), newline="")) if r][1:]
    assert header == ["a", "b", "c"]
    assert rows == expected
    # Line numbers: each record starts after the physical lines of those before it.
    line = 2
    for record, got in zip(expected, lines, strict=True):
        assert got == line
        line += sum(field.count("\n") for field in record) + 1


def write(tmp_path: Path, content: bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def problem(path: Path, encoding: str = "utf-8") -> tuple[int | None, str | None, str]:
    try:
        read_all(path, 2, encoding)
    except CellProblem as exc:
        return exc.line, exc.column, exc.reason
    except InputFileError as exc:
        return exc.line, exc.column, exc.message
    raise AssertionError("no error")


def test_unterminated_quote_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, b'a,b,c\n1,2,3\n4,"five,6\n7,8,9\n')
    assert problem(path)[:2] == (3, "b")
    assert "unterminated" in problem(path)[2]


def test_text_after_closing_quote(tmp_path: Path) -> None:
    path = write(tmp_path, b'a,b,c\n1,2,3\n4,5,"six"x\n')
    line, column, reason = problem(path)
    assert (line, column) == (3, "c")
    assert "after a closing quote" in reason


@pytest.mark.parametrize(
    ("body", "column", "found"),
    [(b"1,2\n", "c", "2 fields"), (b"1,2,3,4\n", "(field 4, beyond the header)", "4 fields")],
)
def test_ragged_rows(tmp_path: Path, body: bytes, column: str, found: str) -> None:
    path = write(tmp_path, b"a,b,c\n1,2,3\n1,2,3\n" + body)
    line, col, reason = problem(path)
    assert (line, col) == (4, column)
    assert found in reason


def test_ragged_row_after_multiline_field_has_the_right_line(tmp_path: Path) -> None:
    path = write(tmp_path, b'a,b,c\n1,"two\nlines",3\n4,5\n')
    assert problem(path)[:2] == (4, "c")


def test_undecodable_bytes_name_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,c\n1,2,3\n4,Zoë,6\n".encode("latin-1"))
    line, column, reason = problem(path)
    assert (line, column) == (3, "b")
    assert "not valid UTF-8" in reason
    assert "encoding" in reason


def test_named_encoding_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,c\n1,Zoë,€\n".encode("cp1252"))
    assert read_all(path, 10, "cp1252")[1] == [["1", "Zoë", "€"]]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_with_or_without_bom(tmp_path: Path, bom: bytes) -> None:
    path = write(tmp_path, bom + "a,b,c\n1,Zoë,3\n".encode())
    header, rows, _ = read_all(path, 10)
    assert header == ["a", "b", "c"]
    assert rows == [["1", "Zoë", "3"]]


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, content)
    with pytest.raises(InputFileError, match=r"in.csv, line 1: file is empty"):
        open_source(path)


def test_blank_lines_are_skipped_and_lines_stay_right(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b,c\n1,2,3\n\n4,5,6\n")
    _, rows, lines = read_all(path, 10)
    assert rows == [["1", "2", "3"], ["4", "5", "6"]]
    assert lines == [2, 4]


def test_no_trailing_newline(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, b"a,b,c\n1,2,3"), 10)[1:] == ([["1", "2", "3"]], [2])


def test_unsupported_extension(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"unsupported input type '\.txt'"):
        open_source(write(tmp_path, b"a\n", "in.txt"))


# ----------------------------------------------------------------- other formats


def test_jsonl_reader(tmp_path: Path) -> None:
    lines = [
        {"a": "x", "b": 1, "c": True},
        {"a": None, "c": False},
        {"a": "z", "b": 2.5, "c": None},
    ]
    path = write(tmp_path, b"\n".join(json.dumps(r).encode() for r in lines) + b"\n\n", "in.jsonl")
    header, rows, numbers = read_all(path, 2)
    assert header == ["a", "b", "c"]
    assert rows == [["x", "1", "true"], [None, None, "false"], ["z", "2.5", None]]
    assert numbers == [1, 2, 3]


@pytest.mark.parametrize(
    ("second", "column", "message"),
    [
        (b'{"a": 1, "zz": 2}', "(a key: text of 2 characters)", "undeclared"),
        (b'{"a": 1, "gp_name": 2}', "gp_name", "undeclared"),
        (b'{"a": [1]}', "a", "nested"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"a": ', None, "not valid JSON"),
    ],
)
def test_jsonl_errors(tmp_path: Path, second: bytes, column: str | None, message: str) -> None:
    path = write(tmp_path, b'{"a": 1}\n' + second + b"\n", "in.jsonl")
    line, col, text = problem(path)
    assert (line, col) == (2, column)
    assert message in text


def test_xlsx_reader(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["a", "b", "c"])
    sheet.append(["x", date(2024, 3, 12), 3.0])
    sheet.append([None, None, None])
    sheet.append(["y", datetime(2024, 3, 12, 10, 15), 2.5])
    path = tmp_path / "in.xlsx"
    book.save(path)
    header, rows, lines = read_all(path, 1)
    assert header == ["a", "b", "c"]
    assert rows == [["x", "2024-03-12", "3"], ["y", "2024-03-12T10:15:00", "2.5"]]
    assert lines == [2, 4]


def test_xlsx_ragged_row(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["a", "b"])
    book.active.append(["x", "y", "extra"])
    path = tmp_path / "in.xlsx"
    book.save(path)
    assert problem(path)[:2] == (2, "(field 3, beyond the header)")


def test_corrupt_xlsx(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not a readable XLSX"):
        open_source(write(tmp_path, b"PK not really", "in.xlsx"))


def test_parquet_reader(tmp_path: Path) -> None:
    table = pa.table(
        {"a": ["x", None, "z"], "b": [date(2024, 3, 12), None, date(2020, 1, 1)], "c": [1, 2, 3]}
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    header, rows, lines = read_all(path, 2)
    assert header == ["a", "b", "c"]
    assert rows == [["x", "2024-03-12", "1"], [None, None, "2"], ["z", "2020-01-01", "3"]]
    assert lines == [1, 2, 3]


# ------------------------------------------------------------------------ writers


@given(
    st.lists(st.lists(st.one_of(st.none(), cells), min_size=3, max_size=3), min_size=1, max_size=20)
)
def test_encode_csv_round_trips(rows: list[list[str | None]]) -> None:
    columns = [list(c) for c in zip(*rows, strict=True)]
    text = encode_csv(columns).decode()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed == [["" if v is None else v for v in row] for row in rows]


def test_encode_jsonl_types() -> None:
    outputs = [
        OutputColumn("n", "integer"),
        OutputColumn("b", "boolean"),
        OutputColumn("s", "string"),
    ]
    text = encode_jsonl([["1", None], ["true", "false"], ["x", None]], outputs).decode()
    assert [json.loads(line) for line in text.splitlines()] == [
        {"n": 1, "b": True, "s": "x"},
        {"n": None, "b": False, "s": None},
    ]


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"

    def fail_half_way() -> None:
        with AtomicOutput(target) as out:
            assert out.handle is not None
            out.handle.write(b"partial")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_half_way()
    assert list(tmp_path.iterdir()) == []
    with AtomicOutput(target) as out:
        assert out.handle is not None
        out.handle.write(b"whole")
    assert target.read_bytes() == b"whole"
    assert list(tmp_path.iterdir()) == [target]
