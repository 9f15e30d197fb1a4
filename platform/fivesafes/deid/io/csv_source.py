"""CSV extracts, cut into raw-byte chunks in the parent and parsed in the workers.

CSV chunks are *raw bytes* cut at record boundaries, so the parent process does almost no
work per row (it only counts quotes and newlines in C) and parsing happens in parallel in
the workers (:func:`parse_csv_chunk`).

Errors name the file, the line (1-based, the header is line 1) and the column, never the
cell's content.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from functools import partial

from fivesafes.deid.io.control import (
    control_reason,
    find_control,
    first_control_in_rows,
    may_hold_control,
)
from fivesafes.deid.io.limits import (
    DEFAULT_LIMITS,
    LIMIT_CODE,
    ReaderLimits,
    field_too_long,
    limit_error,
    over_field_limit,
    size_text,
)
from fivesafes.deid.io.types import CellProblem, Chunk, ParsedChunk, TextStream
from fivesafes.errors import InputFileError

# Long clinical notes: the default is 128 KiB. Set again per chunk from the run's limits.
csv.field_size_limit(DEFAULT_LIMITS.max_line_bytes)

_BLOCK = 256 * 1024
_BOM = codecs.BOM_UTF8


class CsvSource(TextStream):
    """CSV cut into raw-byte chunks at record boundaries.

    A newline ends a record exactly when the number of quote characters before it is even
    (RFC 4180 escapes a quote by doubling it, which keeps the parity). Each chunk therefore
    starts at quote parity zero and can be parsed on its own by a worker.
    """

    format = "csv"

    def _open(self) -> None:
        self.header, self._carry, self._next_line = self._read_header()

    def _read(self, size: int | None = None) -> bytes:
        return self._hashed(self._handle.read(_BLOCK if size is None else size))

    def _read_header(self) -> tuple[list[str], bytes, int]:
        buffer = self._read()
        if self.encoding == "utf-8" and buffer.startswith(_BOM):
            buffer = buffer[len(_BOM) :]
            self._consumed += len(_BOM)
        if not buffer.strip():
            raise InputFileError("file is empty (no header row)", file=self.file, line=1)
        while True:
            end = first_record_end(buffer)
            if end >= 0:
                break
            more = self._read()
            if not more:
                end = len(buffer) - 1
                break
            if len(buffer) > self.limits.max_line_bytes:
                raise self._record_too_long(1)
            buffer += more
        raw, rest = buffer[: end + 1], buffer[end + 1 :]
        self._consumed += len(raw)
        most = self.limits.max_cells_per_row
        if raw.count(b",") >= most and _wide_record(raw, most) is not None:
            raise limit_error(
                f"header row has more than {most} columns",
                "max_cells_per_row",
                file=self.file,
                line=1,
            )
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError:
            raise self._encoding_error(1, None) from None
        try:
            rows = list(csv.reader(io.StringIO(text), strict=True))
        except csv.Error as exc:
            raise InputFileError(
                f"malformed header row: {_csv_reason(exc)}", file=self.file, line=1
            ) from None
        header = rows[0] if rows else []
        if find_control(text) >= 0 and (hit := first_control_in_rows(rows[:1])):
            raise InputFileError(
                control_reason(hit[2]), file=self.file, line=1, column=_beyond(hit[1], "")
            )
        if not header or any(not name.strip() for name in header):
            raise InputFileError("header row has an empty column name", file=self.file, line=1)
        if len(header) > self.limits.max_cells_per_row:
            raise limit_error(
                f"header row has {len(header)} columns, more than the limit of "
                f"{self.limits.max_cells_per_row}",
                "max_cells_per_row",
                file=self.file,
                line=1,
            )
        return header, rest, 1 + raw.count(b"\n")

    def _record_too_long(self, line: int) -> InputFileError:
        return limit_error(
            f"a record longer than the limit of {size_text(self.limits.max_line_bytes)} "
            "(or a stray quote character that makes the rest of the file one field)",
            "max_line_bytes",
            file=self.file,
            line=line,
        )

    def _encoding_error(self, line: int, column: str | None) -> InputFileError:
        return InputFileError(
            _encoding_hint(self.encoding), file=self.file, line=line, column=column
        )

    def chunks(self, rows_hint: int) -> Iterator[Chunk]:
        index = 0
        buffer = self._carry
        self._carry = b""
        eof = False
        most = self.limits.max_line_bytes
        while True:
            # Read until the buffer holds about rows_hint lines, or as many bytes as one
            # record may hold (so a chunk is bounded however long its lines), or the end.
            newlines, size, parts = buffer.count(b"\n"), len(buffer), [buffer]
            while not eof and newlines < rows_hint and size <= most:
                block = self._read()
                eof = not block
                parts.append(block)
                size += len(block)
                newlines += block.count(b"\n")
            buffer = b"".join(parts) if len(parts) > 1 else buffer
            cut = _cut_point(buffer, rows_hint)
            if cut < 0 and len(buffer) > most:
                # The buffer is one unfinished record, already past the limit: refuse it
                # before reading any more of it.
                raise self._record_too_long(self._next_line)
            if cut < 0 and not eof:
                # One record longer than the lines read so far: read as much again (so a
                # long record costs linear time), never far past the limit.
                block = self._read(max(_BLOCK, min(len(buffer), most + 1 - len(buffer))))
                eof = not block
                buffer += block
                continue
            if eof and (cut < 0 or not buffer[cut + 1 :].strip()):
                cut = len(buffer) - 1  # the rest of the file (may lack a final newline)
            data, buffer = buffer[: cut + 1], buffer[cut + 1 :]
            if not data:
                break
            self._consumed += len(data)
            yield Chunk(index, self._next_line, self._consumed, csv_bytes=data)
            index += 1
            self._next_line += data.count(b"\n")
        self._done = True


def _record_boundary(buffer: bytes, start: int, end: int) -> int:
    """Index of the last newline in ``buffer[start:end]`` outside quotes, or -1.

    ``buffer`` starts at quote parity zero; counting is done by ``bytes.count`` in C.
    """
    total = buffer.count(b'"', start, end)
    pos = buffer.rfind(b"\n", start, end)
    after = end
    while pos >= 0:
        total -= buffer.count(b'"', pos + 1, after)
        if total % 2 == 0:
            return pos
        after = pos
        pos = buffer.rfind(b"\n", start, pos)
    return -1


def _cut_point(buffer: bytes, rows_hint: int) -> int:
    """Where to end a chunk: the last record boundary within about ``rows_hint`` lines."""
    pos = -1
    for _ in range(rows_hint):
        pos = buffer.find(b"\n", pos + 1)
        if pos < 0:
            break
    end = len(buffer) if pos < 0 else pos + 1
    cut = _record_boundary(buffer, 0, end)
    if cut < 0 and end < len(buffer):  # one record spans more lines than the hint
        cut = _record_boundary(buffer, 0, len(buffer))
    return cut


def first_record_end(buffer: bytes) -> int:
    """Index of the first newline outside quotes (the end of the header record), or -1.

    Also how an upload's header is known to have arrived (``ingestion.header_check``).
    """
    quotes = 0
    start = 0
    pos = buffer.find(b"\n")
    while pos >= 0:
        quotes += buffer.count(b'"', start, pos)
        if quotes % 2 == 0:
            return pos
        start = pos
        pos = buffer.find(b"\n", pos + 1)
    return -1


def parse_csv_chunk(
    chunk: Chunk, header: Sequence[str], encoding: str, limits: ReaderLimits = DEFAULT_LIMITS
) -> ParsedChunk:
    """Decode and parse one raw CSV chunk (in a worker); :class:`CellProblem` on bad input.

    The parser's own field limit is the record limit (the chunker has bounded records);
    fields are then measured against ``limits.max_field_bytes`` only in a chunk long
    enough to hold one that is too long.
    """
    data = chunk.csv_bytes
    assert data is not None
    csv.field_size_limit(max(limits.max_line_bytes, limits.max_field_bytes))
    most = limits.max_cells_per_row
    # More delimiters than rows of the header's width explain: a record may be millions
    # of cells wide (a line of commas), which the parser would materialise. Looked into.
    explained = (data.count(b"\n") + 1) * max(len(header) - 1, 0) + most
    if data.count(b",") > explained and (offset := _wide_record(data, most)) is not None:
        raise CellProblem(
            f"row has more than {most} cells (limit FIVESAFES_MAX_CELLS_PER_ROW)",
            chunk.first_line + offset,
            None,
            LIMIT_CODE,
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _decode_problem(data, exc, chunk.first_line, header, encoding) from None
    try:
        rows = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error:
        raise _csv_problem(text, chunk.first_line, header) from None
    width = len(header)
    simple = True
    lengths = set(map(len, rows))
    if 0 in lengths:  # blank lines are skipped
        rows = [row for row in rows if row]
        lengths.discard(0)
        simple = False
    parsed = ParsedChunk(
        [], len(rows), chunk.first_line, locate=partial(_record_lines, text, chunk.first_line)
    )
    if may_hold_control(data, text, encoding) and (hit := first_control_in_rows(rows)):
        row, index, char = hit
        column = header[index] if index < width else _beyond(index)
        raise CellProblem(control_reason(char), parsed.line_of(row), column)
    if simple:
        newlines = text.count("\n")
        if newlines == len(rows) - (0 if text.endswith("\n") else 1):
            parsed.lines = list(range(chunk.first_line, chunk.first_line + len(rows)))
    if lengths and lengths != {width}:
        bad = next(i for i, row in enumerate(rows) if len(row) != width)
        found = len(rows[bad])
        column = header[found] if found < width else _beyond(width)
        raise CellProblem(
            f"ragged row: {found} fields, the header has {width}", parsed.line_of(bad), column
        )
    if len(data) > limits.max_field_bytes and (long := _long_field(rows, encoding, limits)):
        raise CellProblem(
            field_too_long(limits), parsed.line_of(long[0]), header[long[1]], LIMIT_CODE
        )
    parsed.columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    return parsed


_QUOTED_OR_NEWLINE = re.compile(rb'"[^"]*"?|\n')


def _wide_record(data: bytes, most: int) -> int | None:
    """Lines before the first record with more than ``most`` cells, or None.

    Commas are counted between quoted sections and record ends (C-speed counts; the
    Python loop runs once per record or quoted field, only for a suspicious chunk).
    """
    commas = newlines = start = position = 0
    for match in _QUOTED_OR_NEWLINE.finditer(data):
        commas += data.count(b",", position, match.start())
        if commas + 1 > most:
            return start
        token = match.group()
        if token == b"\n":
            newlines += 1
            commas, start = 0, newlines
        else:
            newlines += token.count(b"\n")
        position = match.end()
    commas += data.count(b",", position)
    return start if commas + 1 > most else None


def _long_field(
    rows: Sequence[Sequence[str]], encoding: str, limits: ReaderLimits
) -> tuple[int, int] | None:
    """``(row, field)`` of the first field over the field limit, or None."""
    for row, fields in enumerate(rows):
        for index, value in enumerate(fields):
            if over_field_limit(value, limits, encoding):
                return row, index
    return None


def _beyond(index: int, where: str = ", beyond the header") -> str:
    """How to name a field past the header's last column (1-based, as people count)."""
    return f"(field {index + 1}{where})"


def _record_lines(text: str, first_line: int) -> list[int]:
    """Start line of every non-blank record in ``text`` (error paths only: it re-parses)."""
    reader = csv.reader(io.StringIO(text))
    lines, start = [], first_line
    for row in reader:
        if row:
            lines.append(start)
        start = first_line + reader.line_num
    return lines


def _lenient_rows(text: str) -> list[list[str]]:
    """A lenient parse for locating a problem; never raises (a bare CR defeats even it)."""
    for attempt in (text, text.replace("\r", " ")):
        try:
            return list(csv.reader(io.StringIO(attempt)))
        except csv.Error:
            continue
    return []  # a field over the size limit: no column can be named


def _column_at(partial: str, header: Sequence[str]) -> str | None:
    """The column a truncated record reached: the header name of its last field."""
    rows = _lenient_rows(partial)
    if not rows or partial.endswith(("\n", "\r")):
        return header[0] if header else None
    index = len(rows[-1]) - 1
    return header[index] if 0 <= index < len(header) else _beyond(index)


def _csv_reason(exc: csv.Error) -> str:
    message = str(exc)
    if "unexpected end of data" in message or "EOF" in message:
        return "unterminated quoted field (a quote is opened and never closed)"
    if "expected after" in message:
        return "text after a closing quote (quotes inside a field must be doubled)"
    if "field larger than field limit" in message:
        return f"a field longer than the limit of {csv.field_size_limit() // (1024 * 1024)} MiB"
    if "NUL" in message:
        return "NUL byte in the data"
    return f"malformed CSV ({message})"


def _culprit_field(line: str) -> int:
    """Index of the field in one physical line where a strict parse first fails.

    Prefixes ending at each comma are parsed in turn: the first that fails for a reason
    other than an open quote contains the bad field; if none does, the quote that never
    closes opened in the last field of a lenient parse.
    """
    line = line.rstrip("\r\n")
    cuts = [i for i, ch in enumerate(line) if ch == ","] + [len(line)]
    for cut in cuts:
        try:
            list(csv.reader([line[:cut]], strict=True))
        except csv.Error as exc:
            if "unexpected end of data" not in str(exc):
                return max(len(next(iter(_lenient_rows(line[:cut])), [])) - 1, 0)
    return max(len(next(iter(_lenient_rows(line)), [])) - 1, 0)


def _csv_problem(text: str, first_line: int, header: Sequence[str]) -> CellProblem:
    reader = csv.reader(io.StringIO(text), strict=True)
    start = 1
    reason = "malformed CSV"
    try:
        for _ in reader:
            start = reader.line_num + 1
    except csv.Error as exc:
        reason = _csv_reason(exc)
    failed_at = reader.line_num
    lines = io.StringIO(text).readlines()
    first = lines[start - 1].replace("\x00", "") if start - 1 < len(lines) else ""
    index = _culprit_field(first)
    if failed_at > start and first.count('"') % 2 == 1:
        # A quote opened on the record's first line and ran on: the likeliest culprit is a
        # stray or unclosed quote there, not where the parser finally gave up.
        reason = (
            f"quoted field does not close properly (it runs on to line "
            f"{first_line + failed_at - 1}: {reason})"
        )
    column = header[index] if index < len(header) else _beyond(index)
    return CellProblem(reason, first_line + start - 1, column)


def _decode_problem(
    data: bytes, exc: UnicodeDecodeError, first_line: int, header: Sequence[str], encoding: str
) -> CellProblem:
    prefix = data[: exc.start]
    line = first_line + prefix.count(b"\n")
    text = prefix.decode(encoding, errors="replace")
    # Only the current record matters for the column: take text after the last boundary.
    boundary = _record_boundary(prefix, 0, len(prefix))
    partial_record = (
        prefix[boundary + 1 :].decode(encoding, errors="replace") if boundary >= 0 else text
    )
    column = _column_at(partial_record, header) if partial_record else header[0]
    return CellProblem(_encoding_hint(encoding), line, column)


def _encoding_hint(encoding: str) -> str:
    """Why bytes did not decode, and what to do about it (never the bytes)."""
    if encoding == "utf-8":
        return (
            "not valid UTF-8; if the file uses another encoding, name it in the policy "
            "(input: {encoding: cp1252})"
        )
    return f"bytes not valid in the policy's encoding {encoding}"
