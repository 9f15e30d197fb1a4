"""HeaderCheck: a wrong header row is refused the moment its record is complete, however
the bytes arrive, and never earlier; a right one lets the rest stream on. Also through the
streaming multipart parser: the refusal stops it before the rest of the body is read."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.deid.io.limits import DEFAULT_LIMITS, ReaderLimits
from fivesafes.deid.policy import parse_policy
from fivesafes.errors import InputFileError, InvalidInputError
from fivesafes.ingestion.header_check import HeaderCheck
from fivesafes.ingestion.multipart_stream import receive_file
from fivesafes.ingestion.spool import SpoolWriter
from tests.factories.extracts import ADMISSION_COLUMNS, ADMISSIONS_POLICY

POLICY = parse_policy(yaml.safe_load(ADMISSIONS_POLICY))
RIGHT = ",".join(ADMISSION_COLUMNS).encode() + b"\r\n"
WRONG = ",".join([*ADMISSION_COLUMNS[:-1], "surname"]).encode() + b"\r\n"
ROWS = b"9434765919,Ann,1970-01-01,LS1 4AP,F,2023-01-05,3,,72.5,2023-01-08T10:00:00Z,false\r\n"


def _feed_in_pieces(check: HeaderCheck, data: bytes, cuts: list[int]) -> int | None:
    """Feed ``data`` cut at ``cuts``; the end offset of the piece that was refused."""
    check.start("extract.csv")
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(edges):
        try:
            check.feed(data[start:end])
        except InputFileError:
            return end
    return None


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_a_wrong_header_is_refused_exactly_when_its_line_is_complete(cuts: list[int]) -> None:
    data = WRONG + ROWS * 3
    refused_at = _feed_in_pieces(HeaderCheck(POLICY, DEFAULT_LIMITS), data, cuts)
    assert refused_at is not None
    # Not before the header's newline arrived, and in the very piece that brought it.
    assert refused_at >= len(WRONG)
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    assert refused_at == min(e for e in edges if e >= len(WRONG))


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_a_right_header_is_never_refused(cuts: list[int]) -> None:
    check = HeaderCheck(POLICY, DEFAULT_LIMITS)
    assert _feed_in_pieces(check, RIGHT + ROWS * 3, cuts) is None
    assert check.done
    check.finish()


def test_the_refusal_names_file_line_and_columns_but_no_value() -> None:
    check = HeaderCheck(POLICY, DEFAULT_LIMITS)
    check.start("wrong.csv")
    with pytest.raises(InputFileError) as refused:
        check.feed(WRONG + ROWS)
    error = refused.value
    assert (error.file, error.line) == ("wrong.csv", 1)
    assert "1 column(s) not declared in policy 'admissions'" in error.message
    assert "missing: 'readmitted'" in error.message
    assert "Ann" not in error.message


def test_a_newline_inside_a_quoted_header_name_does_not_end_the_header() -> None:
    check = HeaderCheck(POLICY, DEFAULT_LIMITS)
    check.start("quoted.csv")
    check.feed(b'"nhs\nnumber",sex')  # no decision yet: the record goes on
    assert not check.done
    with pytest.raises(InputFileError, match="not declared"):
        check.feed(b"\r\n" + ROWS)


def test_json_lines_are_checked_at_the_first_line() -> None:
    check = HeaderCheck(POLICY, DEFAULT_LIMITS)
    check.start("extract.jsonl")
    check.feed(b'{"nhs_number": "9434765919", "sex": "F"')
    assert not check.done
    with pytest.raises(InputFileError, match="missing"):
        check.feed(b"}\n")


def test_a_file_that_is_only_a_header_is_checked_at_the_end() -> None:
    check = HeaderCheck(POLICY, DEFAULT_LIMITS)
    check.start("short.csv")
    check.feed(WRONG.rstrip())
    assert not check.done
    with pytest.raises(InputFileError, match="not declared"):
        check.finish()


@pytest.mark.parametrize("name", ["extract.xlsx", "extract.parquet"])
def test_containers_are_left_to_ingestion(name: str) -> None:
    check = HeaderCheck(POLICY, DEFAULT_LIMITS)
    check.start(name)
    assert check.done
    check.feed(b"PK\x03\x04 anything")
    check.finish()


def test_an_unsupported_type_is_refused_when_the_name_arrives() -> None:
    with pytest.raises(InputFileError, match=r"unsupported input type '\.txt'"):
        HeaderCheck(POLICY, DEFAULT_LIMITS).start("extract.txt")


def test_a_header_longer_than_the_line_limit_is_left_to_the_reader() -> None:
    limits = ReaderLimits(max_field_bytes=1024, max_line_bytes=1024)
    check = HeaderCheck(POLICY, limits)
    check.start("long.csv")
    check.feed(b"x" * 2000)
    assert check.done  # gave up: ingestion refuses it with the limit's own message
    check.feed(b"\r\n")


BOUNDARY = "b0undary"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="e.csv"\r\n'
    "Content-Type: text/csv\r\n\r\n"
).encode()


def _receive_checked(chunks: AsyncIterator[bytes], spool: Path) -> None:
    """Stream ``chunks`` through the multipart parser with a header check; raise its error."""
    writer = SpoolWriter(spool, uuid.uuid4())
    try:
        asyncio.run(
            receive_file(
                chunks,
                f"multipart/form-data; boundary={BOUNDARY}",
                writer,
                10**9,
                HeaderCheck(POLICY, DEFAULT_LIMITS),
            )
        )
    finally:
        writer.abort()


def test_the_parser_stops_reading_at_the_refusal(tmp_path: Path) -> None:
    pieces = [HEAD, WRONG, *([ROWS] * 1000)]
    taken = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal taken
        for piece in pieces:
            taken += 1
            yield piece

    with pytest.raises(InputFileError, match="not declared"):
        _receive_checked(chunks(), tmp_path)
    # The part's headers, the header row, and one piece more: the parser holds back a
    # trailing CRLF (it may begin the closing boundary) until the next bytes show it is not.
    assert taken == 3
    assert list(tmp_path.rglob("*.*")) == []


def test_a_file_part_without_a_name_is_refused_as_before(tmp_path: Path) -> None:
    nameless = HEAD.replace(b'; filename="e.csv"', b"")

    async def chunks() -> AsyncIterator[bytes]:
        yield nameless + WRONG + ROWS + f"\r\n--{BOUNDARY}--\r\n".encode()

    with pytest.raises(InvalidInputError, match="exactly one file"):
        _receive_checked(chunks(), tmp_path)
