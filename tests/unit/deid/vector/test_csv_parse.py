"""The Arrow chunk parser gives exactly what ``parse_csv_chunk`` gives, or declines."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fivesafes.bench.structured import write_extract
from fivesafes.deid.io.csv_source import parse_csv_chunk
from fivesafes.deid.io.limits import DEFAULT_LIMITS, ReaderLimits
from fivesafes.deid.io.sources import open_source
from fivesafes.deid.io.types import CellProblem, Chunk, ParsedChunk
from fivesafes.deid.vector.csv_parse import parse_csv_chunk_arrow

FIRST_LINE = 7


def chunk_of(data: bytes) -> Chunk:
    return Chunk(0, FIRST_LINE, len(data), csv_bytes=data)


def assert_same(
    data: bytes, header: list[str], encoding: str = "utf-8", limits: ReaderLimits = DEFAULT_LIMITS
) -> ParsedChunk | None:
    """The Arrow result, checked against the strict parser's whenever there is one."""
    fast = parse_csv_chunk_arrow(chunk_of(data), header, encoding, limits)
    if fast is None:
        return None
    slow = parse_csv_chunk(chunk_of(data), header, encoding, limits)  # must not raise
    assert fast.arrays is not None
    assert fast.columns == []
    assert fast.first_line == FIRST_LINE
    assert len(fast.arrays) == len(header)
    assert all(a.type == pa.string() and a.null_count == 0 for a in fast.arrays)
    assert [a.to_pylist() for a in fast.arrays] == [list(c) for c in slow.columns]
    assert fast.row_count == slow.row_count
    lines = [slow.line_of(r) for r in range(slow.row_count)]
    assert [fast.line_of(r) for r in range(fast.row_count)] == lines
    return fast


# Pieces that matter to either parser, mixed with arbitrary text and bytes.
pieces = st.one_of(
    st.sampled_from(
        [
            *(",", '"', '""', "\n", "\r", "\r\n", " ", "  ", "\t", "a", "b1", "é", "€", "𝄞"),
            *("\ufeff", "\x00", "\x07", "\x7f", "\x85", '"a"', '"a,b"', '"x\ny"', '"q""r"'),
        ]
    ),
    st.text(max_size=4),
)
raw_bytes = st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc0\x80", b"\xf4\x90\x80\x80", b"\xc2"])


@st.composite
def malformed_chunks(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.one_of(pieces.map(str.encode), raw_bytes), max_size=40))
    return b"".join(parts)


def quoted_field(value: str, force: bool) -> str:
    if force or any(ch in value for ch in ',"\n\r') or not value:
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def valid_chunks(draw: st.DrawFn) -> tuple[bytes, int]:
    """Well-formed CSV, sometimes with a ragged row, blank lines or CRLF."""
    width = draw(st.integers(1, 4))
    cell = st.text(st.sampled_from(list("ab ,\"\n\r'é€1\t")), max_size=6)
    rows = draw(st.lists(st.lists(cell, min_size=width, max_size=width), max_size=8))
    ragged = draw(st.booleans())
    if rows and ragged:
        rows[draw(st.integers(0, len(rows) - 1))].append("x")  # ragged
    force = draw(st.booleans())
    end = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [",".join(quoted_field(v, force) for v in row) for row in rows]
    blanks = draw(st.lists(st.integers(0, len(lines)), max_size=2))
    for at in sorted(blanks, reverse=True):
        lines.insert(at, "")
    text = end.join(lines) + (end if draw(st.booleans()) else "")
    return text.encode(), width


TIGHT = ReaderLimits(max_field_bytes=24, max_cells_per_row=3)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=malformed_chunks(),
    width=st.integers(1, 4),
    encoding=st.sampled_from(["utf-8", "utf-8", "cp1252", "latin-1"]),
    limits=st.sampled_from([DEFAULT_LIMITS, DEFAULT_LIMITS, TIGHT]),
)
@example(data=b'"a"b,c\n', width=2, encoding="utf-8", limits=DEFAULT_LIMITS)
@example(data=b"  \n", width=1, encoding="utf-8", limits=DEFAULT_LIMITS)
@example(data=b'""\n', width=1, encoding="utf-8", limits=DEFAULT_LIMITS)
def test_any_chunk_gives_the_same_or_declines(
    data: bytes, width: int, encoding: str, limits: ReaderLimits
) -> None:
    header = [f"h{i}" for i in range(width)]
    try:
        assert_same(data, header, encoding, limits)
    except CellProblem:
        pytest.fail("the Arrow parser returned a result where the strict parser raises")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=valid_chunks())
def test_valid_chunks_give_the_same_or_decline(case: tuple[bytes, int]) -> None:
    data, width = case
    try:
        assert_same(data, ["id"] * width)  # a header's names may repeat
    except CellProblem:
        pytest.fail("the Arrow parser returned a result where the strict parser raises")


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.text(st.characters(blacklist_categories=["Cc", "Cs"])), min_size=3, max_size=3),
        min_size=1,
        max_size=10,
    )
)
def test_fully_quoted_well_formed_chunks_take_the_fast_path(rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    data = out.getvalue().encode()
    if "\ufeff" in out.getvalue():
        return  # a byte-order mark anywhere declines
    assert assert_same(data, ["a", "b", "c"]) is not None


def bench_chunk(tmp_path: Path, quote_all: bool) -> tuple[Chunk, list[str]]:
    path = tmp_path / "extract.csv"
    write_extract(path, 300)
    if quote_all:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        with path.open("w", newline="") as handle:
            csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    source = open_source(path, encoding="utf-8", limits=DEFAULT_LIMITS)
    try:
        chunk = next(iter(source.chunks(5000)))
        return chunk, source.header
    finally:
        source.close()


@pytest.mark.parametrize("quote_all", [False, True])
def test_benchmark_extract_takes_the_fast_path(tmp_path: Path, quote_all: bool) -> None:
    chunk, header = bench_chunk(tmp_path, quote_all)
    assert chunk.csv_bytes is not None
    if quote_all:  # every field of every record, the header's included, is quoted
        assert chunk.csv_bytes.count(b'"') >= 2 * 300 * len(header)
    parsed = assert_same(chunk.csv_bytes, header)
    assert parsed is not None
    assert parsed.row_count == 300
    assert parsed.lines is not None  # one line per record: known without re-parsing


@pytest.mark.parametrize(
    "data",
    [
        b'"a,b","c""d"\n"e\nf",g\n',  # quoted commas, doubled quotes, a newline in a field
        b"a,b\r\nc,d\r\n",  # CRLF
        b"a,b\n\nc,d\n\r\n",  # blank lines
        b"a,b\nc,d",  # no final newline
        b'"",""\n,\n',  # empty cells, quoted and not
        "é,€\n𝄞,x\n".encode(),
        b"a\t,b\n",  # tab is not a control character that is refused
        b"\n\r\n",  # blank lines only: no rows
    ],
)
def test_fast_path_is_taken(data: bytes) -> None:
    assert assert_same(data, ["x", "y"]) is not None


def test_lines_of_multiline_records_and_blank_lines() -> None:
    parsed = assert_same(b'a,"1\n2"\n\nb,c\n"d\n\ne",f\ng,h\n', ["x", "y"])
    assert parsed is not None
    assert [parsed.line_of(r) for r in range(4)] == [7, 10, 11, 14]


def test_ascii_in_an_ascii_compatible_encoding_takes_the_fast_path() -> None:
    assert assert_same(b"a,b\n", ["x", "y"], "cp1252") is not None
    assert parse_csv_chunk_arrow(chunk_of("é,b\n".encode("cp1252")), ["x", "y"], "cp1252") is None
    assert parse_csv_chunk_arrow(chunk_of(b"a,b\n"), ["x", "y"], "utf-16") is None
    assert parse_csv_chunk_arrow(chunk_of(b"a,b\n"), ["x", "y"], "no-such-codec") is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'"a"b,c\n', "text after a closing quote"),
        (b'a"b,c\n', "a quote inside an unquoted field"),
        (b'a""b,c\n', "doubled quotes inside an unquoted field"),
        (b' "a",c\n', "a quote after a space"),
        (b'"a,c\n', "an unterminated quote"),
        (b"a,b\rc,d\r", "a lone CR"),
        (b"a,b\n  \nc,d\n", "a line of spaces (one field: ragged)"),
        (b"a,b\nc\n", "a ragged row (too few)"),
        (b"a,b\nc,d,e\n", "a ragged row (too many)"),
        (b"\xef\xbb\xbfa,b\n", "a byte-order mark at the start"),
        (b"a,\xef\xbb\xbfb\n", "a byte-order mark inside"),
        (b"a\x00,b\n", "NUL"),
        (b"a\x1b,b\n", "a C0 control"),
        ("a\x85,b\n".encode(), "a C1 control"),
        (b"a\xff,b\n", "invalid UTF-8"),
        (b"\xed\xa0\x80,b\n", "an encoded surrogate"),
    ],
)
def test_declines(data: bytes, why: str) -> None:
    assert parse_csv_chunk_arrow(chunk_of(data), ["x", "y"], "utf-8") is None, why


def test_declines_a_chunk_that_may_hold_a_field_over_the_limit() -> None:
    limits = ReaderLimits(max_field_bytes=8)
    assert parse_csv_chunk_arrow(chunk_of(b"a,b\nc,d\n"), ["x", "y"], "utf-8", limits)
    assert parse_csv_chunk_arrow(chunk_of(b"a,b\nc,d\ne,f\n"), ["x", "y"], "utf-8", limits) is None


def test_declines_where_the_cells_per_row_check_looks() -> None:
    limits = ReaderLimits(max_cells_per_row=4)
    wide = b'a,b\n",,,,,,,,,",c\n'  # many commas, all quoted: the strict parser looks
    assert parse_csv_chunk_arrow(chunk_of(wide), ["x", "y"], "utf-8", limits) is None
    assert parse_csv_chunk_arrow(chunk_of(wide), ["x", "y"], "utf-8") is not None
