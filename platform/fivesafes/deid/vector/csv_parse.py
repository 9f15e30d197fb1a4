"""A raw CSV chunk parsed by Arrow's C++ reader, or declined for :func:`parse_csv_chunk`.

:func:`~fivesafes.deid.io.csv_source.parse_csv_chunk` (Python's ``csv`` module, strict)
stays the definition of what a chunk means. Arrow's reader is several times
faster but more lenient: it accepts text after a closing quote (``"a"b`` becomes
``ab``), takes a lone CR as a line end and drops a leading byte-order mark, all of which
the strict parser refuses or keeps. So every condition under which the two could differ,
or under which the strict parser would raise, is found first with C-speed scans of the
raw bytes, and the chunk is then declined (``None``) for the caller to parse the slow
way, which raises the exact :class:`~fivesafes.deid.io.types.CellProblem` with its line
and column. A differential property test (``tests/unit/deid/vector/test_csv_parse.py``)
compares the two on generated valid and malformed chunks.

Nothing here raises on bad input and no Arrow message escapes: Arrow's errors can quote
the cell they failed on, and cells may be patient identifiers.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from functools import lru_cache, partial

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from fivesafes.deid.io.control import may_hold_control
from fivesafes.deid.io.csv_source import _record_lines
from fivesafes.deid.io.limits import DEFAULT_LIMITS, ReaderLimits
from fivesafes.deid.io.types import Chunk, ParsedChunk

_BOM = codecs.BOM_UTF8
_QUOTE, _CR, _LF = ord('"'), ord("\r"), ord("\n")
# Encodings that decode ASCII bytes exactly as UTF-8 does: for an all-ASCII chunk the
# strict parser sees the same text, so the UTF-8 fast path gives the same result.
_ASCII_COMPATIBLE = frozenset({"ascii", "cp1252", "iso8859-1", "iso8859-15"})


def _byte_table(allowed: bytes) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[list(allowed)] = True
    return table


# Before a quote that opens a field (or the second quote of a doubled pair).
_MAY_PRECEDE_OPEN = _byte_table(b',\n"')
# After a quote that closes a field (or the first of a doubled pair); a CR here is
# followed by LF, since a lone CR declines the chunk.
_MAY_FOLLOW_CLOSE = _byte_table(b',\n\r"')


def parse_csv_chunk_arrow(
    chunk: Chunk, header: Sequence[str], encoding: str, limits: ReaderLimits = DEFAULT_LIMITS
) -> ParsedChunk | None:
    """``chunk`` parsed into Arrow string columns, or ``None`` where the strict parser
    might give anything else (including an error).

    Equal to :func:`~fivesafes.deid.io.csv_source.parse_csv_chunk` when not ``None``: the
    same cells (an empty cell is ``""``, never null) in ``arrays`` and the same
    :meth:`~fivesafes.deid.io.types.ParsedChunk.line_of` for every row.
    """
    data = chunk.csv_bytes
    if data is None or not header or not _text_is_safe(data, encoding):
        return None
    newlines = data.count(b"\n")
    if not _bytes_are_plain(data, newlines, len(header), limits):
        return None
    if not _quoting_is_strict(data):
        return None
    arrays = _read(data, len(header))
    if arrays is None:
        return None
    rows = len(arrays[0])
    parsed = ParsedChunk(
        [],
        rows,
        chunk.first_line,
        locate=partial(_locate, data, encoding, chunk.first_line),
        arrays=arrays,
    )
    # Every record on one line and no blank line: the lines follow on (as the strict
    # parser finds); otherwise they are re-parsed on demand, on an error path only.
    if newlines == rows - (0 if data.endswith(b"\n") else 1):
        parsed.lines = list(range(chunk.first_line, chunk.first_line + rows))
    return parsed


def _text_is_safe(data: bytes, encoding: str) -> bool:
    """Whether the chunk decodes (as the strict parser decodes it) to text Arrow reads
    the same: valid UTF-8 with no byte-order mark (Arrow drops one at the start), or
    ASCII bytes in an encoding that reads ASCII as ASCII.

    Decoding here, rather than trusting Arrow's own check, keeps "valid" to Python's
    definition; an all-ASCII chunk (a C-speed test) needs neither.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    if data.isascii():
        return name == "utf-8" or name in _ASCII_COMPATIBLE
    if name != "utf-8" or _BOM in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _bytes_are_plain(data: bytes, newlines: int, width: int, limits: ReaderLimits) -> bool:
    """No byte pattern the strict parser checks more closely, or Arrow reads otherwise.

    Each check declines in (at least) the condition where the strict parser starts to
    look: a chunk longer than one field may be (its field-length check), more commas
    than the header's width explains (its cells-per-row check), a possible control
    character (its own pre-check, on the same bytes). A lone CR ends a record for Arrow
    but is an error for ``csv``.
    """
    if len(data) > limits.max_field_bytes:
        return False
    explained = (newlines + 1) * max(width - 1, 0) + limits.max_cells_per_row
    if data.count(b",") > explained:
        return False
    if b"\r" in data and not _every_cr_ends_a_line(data):
        return False
    return not may_hold_control(data, "", "utf-8")


def _every_cr_ends_a_line(data: bytes) -> bool:
    """Whether each CR is followed by a LF (vectorised: twice as fast as counting both
    CR and CRLF, which matters as Windows exports end every line with CRLF)."""
    if data.endswith(b"\r"):
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    return bool((raw[np.flatnonzero(raw == _CR) + 1] == _LF).all())


def _quoting_is_strict(data: bytes) -> bool:
    """Whether every quote is where ``csv.reader(strict=True)`` accepts one.

    The k-th quote (from 0) has k quotes before it. With k even it opens a field, or is
    the second of a doubled quote, so it must follow a field start (the chunk's start, a
    comma, a LF) or a quote; anything else is a quote inside an unquoted field. With k
    odd it closes a field, or is the first of a doubled quote, so it must precede a field
    end (a comma, a line end, the chunk's end) or a quote; anything else is text after a
    closing quote. An odd count is an unterminated field. One vectorised pass over the
    bytes, then gathers over the quotes' neighbours.
    """
    if b'"' not in data:
        return True
    # A LF after the end stands for both edges: index -1 (before the first byte) wraps
    # to it, and the last byte's successor is it; both are record boundaries.
    raw = np.frombuffer(data + b"\n", dtype=np.uint8)
    where = np.flatnonzero(raw == _QUOTE)
    if len(where) % 2:
        return False
    opened_well = _MAY_PRECEDE_OPEN[raw[where[0::2] - 1]].all()
    return bool(opened_well and _MAY_FOLLOW_CLOSE[raw[where[1::2] + 1]].all())


@lru_cache(maxsize=64)
def _convert_options(width: int) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types={f"c{i}": pa.string() for i in range(width)},
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        check_utf8=False,  # already decoded once, by Python's rules (_text_is_safe)
    )


@lru_cache(maxsize=64)
def _column_names(width: int) -> tuple[str, ...]:
    """Generated names: the header's own may repeat or be anything."""
    return tuple(f"c{i}" for i in range(width))


def _read(data: bytes, width: int) -> list[pa.StringArray] | None:
    """The chunk's columns as Arrow reads them, or ``None`` if Arrow refuses it (a
    ragged row, say): the strict parser then finds and names the problem."""
    read_options = pacsv.ReadOptions(
        column_names=list(_column_names(width)),
        use_threads=False,  # each worker is already a process of its own
        block_size=len(data) + 64,  # one block: no record straddles two
    )
    parse_options = pacsv.ParseOptions(
        newlines_in_values=b'"' in data,
        ignore_empty_lines=True,
    )
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data)),
            read_options=read_options,
            parse_options=parse_options,
            convert_options=_convert_options(width),
        )
    except (pa.ArrowException, ValueError):
        return None  # never Arrow's message: it can quote the cell
    if table.num_columns != width:
        return None
    arrays = [_one_array(table.column(i)) for i in range(width)]
    if any(a.type != pa.string() or a.null_count for a in arrays):
        return None
    return arrays


def _one_array(column: pa.ChunkedArray) -> pa.StringArray:
    if column.num_chunks == 1:
        array: pa.StringArray = column.chunk(0)
        return array
    combined: pa.StringArray = column.combine_chunks()
    return combined


def _locate(data: bytes, encoding: str, first_line: int) -> list[int]:
    """Start line of each record, as the strict parser finds them (errors only)."""
    return _record_lines(data.decode(encoding), first_line)
