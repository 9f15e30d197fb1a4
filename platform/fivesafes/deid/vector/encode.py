"""Chunk encoders over Arrow string columns, byte for byte the twins in ``deid/io/writers.py``.

The list encoders (:func:`~fivesafes.deid.io.writers.encode_csv`, ``encode_pgcopy``,
``encode_jsonl``) stay the definition of the output formats; each function here returns
exactly their bytes for ``[c.to_pylist() for c in columns]``. Whether any value needs
quoting or escaping is decided by searching the columns' raw UTF-8 for the few ASCII
bytes that matter (``memchr`` speed, no per-value work, and no byte of a multi-byte
character is ASCII). Plain data, the usual case, is then written by Arrow's C++ CSV
writer in one pass; data that needs quoting or escaping is still handled with
whole-column kernels, only in the columns that need it. The rest (an input that is not a
string array, lengths that differ, an integer not in canonical form, a control character
that JSON writes as ``\\u00XX``, repeated JSON names, a chunk too big for 32-bit offsets)
goes to the list encoder itself, which also keeps its exact errors. Arrow's own errors
are never passed on: they quote values.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from fivesafes.column_kinds import ColumnKind
from fivesafes.deid.io.writers import encode_csv, encode_jsonl, encode_pgcopy
from fivesafes.deid.plan import OutputColumn

#: Largest output the kernel paths build in one string array (its offsets are int32);
#: a bigger chunk (hundreds of kilobytes a row) goes to the list encoder instead.
MAX_KERNEL_BYTES = 2**31 - 1

#: Bytes that make ``csv.writer`` quote a field (its line terminator is CRLF).
_CSV_SPECIAL = (b",", b'"', b"\r", b"\n")
#: Bytes COPY text escapes, in the order that escapes each once (backslash first).
_PG_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_PG_SPECIAL = tuple(old.encode() for old, _ in _PG_ESCAPES)
#: What ``json`` writes as a two-character escape, backslash first for the same reason.
_JSON_ESCAPES = (
    ("\\", "\\\\"),
    ('"', '\\"'),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
    ("\x08", "\\b"),
    ("\x0c", "\\f"),
)
_JSON_SPECIAL = tuple(old.encode() for old, _ in _JSON_ESCAPES)
#: The other control characters, which ``json`` writes as ``\\u00XX``.
_JSON_UNICODE_ESCAPED = bytes(b for b in range(0x20) if chr(b) not in "\b\t\n\f\r")
_JSON_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode_csv_arrays(columns: Sequence[pa.Array]) -> bytes:
    """:func:`~fivesafes.deid.io.writers.encode_csv` of the columns' values."""
    rows = _row_count(columns)
    if rows is None:
        return _csv_fallback(columns)
    if rows == 0 or not columns:
        return b""
    single = len(columns) == 1
    if not _holds(columns, _CSV_SPECIAL) and not (single and _has_empty(columns[0])):
        plain = _write_plain(columns, ",", "\r\n", "")
        if plain is not None:
            return plain
    if _kernel_bytes(columns, per_value=3, per_row=2) > MAX_KERNEL_BYTES:
        return _csv_fallback(columns)
    quoted = [_csv_quote(column, single=single) for column in columns]
    return _join_rows(_interleave(quoted, ",", "\r\n"))


def encode_pgcopy_arrays(columns: Sequence[pa.Array]) -> bytes:
    """:func:`~fivesafes.deid.io.writers.encode_pgcopy` of the columns' values."""
    rows = _row_count(columns)
    if rows is None:
        return _pgcopy_fallback(columns)
    if rows == 0 or not columns:
        return b""
    if not _holds(columns, _PG_SPECIAL):
        # Arrow's writer also refuses a double quote, which COPY text does not mind.
        plain = _write_plain(columns, "\t", "\n", "\\N")
        if plain is not None:
            return plain
    if _kernel_bytes(columns, per_value=3, per_row=1) > MAX_KERNEL_BYTES:
        return _pgcopy_fallback(columns)
    escaped = [_pg_escape(column) for column in columns]
    return _join_rows(_interleave(escaped, "\t", "\n"))


def encode_jsonl_arrays(columns: Sequence[pa.Array], outputs: Sequence[OutputColumn]) -> bytes:
    """:func:`~fivesafes.deid.io.writers.encode_jsonl` of the columns' values."""
    rows = _row_count(columns)
    names = [out.name for out in outputs]
    if rows is None or len(columns) != len(outputs) or len(set(names)) != len(names):
        return _jsonl_fallback(columns, outputs)
    if rows == 0 or not columns:
        return b""
    key_bytes = sum(len(_JSON_DUMPS(name).encode()) + 2 for name in names)
    if _kernel_bytes(columns, per_value=6, per_row=key_bytes + 2) > MAX_KERNEL_BYTES:
        return _jsonl_fallback(columns, outputs)
    pieces: list[str | pa.Array] = []
    for index, (column, out) in enumerate(zip(columns, outputs, strict=True)):
        literal = _json_literal(column, out.kind)
        if literal is None:
            return _jsonl_fallback(columns, outputs)
        pieces += ["{" if index == 0 else ",", _JSON_DUMPS(out.name) + ":", *literal]
    pieces.append("}\n")
    return _join_rows(_merge_scalars(pieces))


# ----------------------------------------------------------------------------- fallbacks


def _csv_fallback(columns: Sequence[pa.Array]) -> bytes:
    return encode_csv([column.to_pylist() for column in columns])


def _pgcopy_fallback(columns: Sequence[pa.Array]) -> bytes:
    return encode_pgcopy([column.to_pylist() for column in columns])


def _jsonl_fallback(columns: Sequence[pa.Array], outputs: Sequence[OutputColumn]) -> bytes:
    return encode_jsonl([column.to_pylist() for column in columns], outputs)


# ----------------------------------------------------------------------------- shared


def _row_count(columns: Sequence[pa.Array]) -> int | None:
    """The chunk's row count, or None when the kernels cannot take the columns (not all
    string arrays of one length): the list encoder then decides, errors included."""
    if not all(isinstance(c, pa.Array) and c.type == pa.string() for c in columns):
        return None
    lengths = {len(column) for column in columns}
    if len(lengths) > 1:
        return None
    return lengths.pop() if lengths else 0


def _offsets(column: pa.Array) -> tuple[int, int]:
    """Where the (possibly sliced) column's values start and end in its data buffer."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)
    return int(offsets[column.offset]), int(offsets[column.offset + len(column)])


def _value_bytes(column: pa.Array) -> bytes:
    """The column's value data as one bytes object, to search with ``in``: ``memchr``
    over the raw UTF-8 is far faster than a per-value kernel, and no byte of a multi-byte
    character is ASCII. Null slots may hold bytes too, which only errs towards caution."""
    start, end = _offsets(column)
    data = column.buffers()[2]
    if data is None or end == start:
        return b""
    found: bytes = data.slice(start, end - start).to_pybytes()
    return found


def _holds(columns: Sequence[pa.Array], needles: Sequence[bytes]) -> bool:
    """Whether any value of the columns may contain any of the (one-byte) needles."""
    for column in columns:
        data = _value_bytes(column)
        if any(needle in data for needle in needles):
            return True
    return False


def _has_empty(column: pa.Array) -> bool:
    """Whether a value is null or empty: ``csv.writer`` quotes it as a row's only field."""
    nulls: int = column.null_count
    shortest: int | None = pc.min(pc.binary_length(column)).as_py()
    return nulls > 0 or shortest == 0


def _any(mask: pa.Array) -> bool:
    found: bool = pc.any(mask).as_py() is True
    return found


def _write_plain(
    columns: Sequence[pa.Array], delimiter: str, eol: str, null_string: str
) -> bytes | None:
    """The columns as unquoted delimited rows by Arrow's CSV writer, or None if a value
    holds a delimiter, double quote or line break (the writer refuses them unquoted)."""
    table = pa.Table.from_arrays(list(columns), names=[str(i) for i in range(len(columns))])
    options = pa_csv.WriteOptions(
        include_header=False,
        batch_size=max(len(table), 1),
        delimiter=delimiter,
        eol=eol,
        null_string=null_string,
        quoting_style="none",
    )
    sink = pa.BufferOutputStream()
    try:
        pa_csv.write_csv(table, sink, options)
    except pa.ArrowInvalid:
        # Its message quotes the offending value, so it goes no further than here.
        return None
    written: bytes = sink.getvalue().to_pybytes()
    return written


def _kernel_bytes(columns: Sequence[pa.Array], *, per_value: int, per_row: int) -> int:
    """An upper bound on the kernel paths' output: escaping at most doubles a value, plus
    the quotes or ``null`` and separators each value and row adds."""
    spans = sum(end - start for start, end in map(_offsets, columns))
    return 2 * spans + len(columns[0]) * (per_value * len(columns) + per_row)


def _interleave(columns: Sequence[pa.Array], sep: str, end: str) -> list[str | pa.Array]:
    """Pieces for :func:`_join_rows` that make each row with its separators and end."""
    pieces: list[str | pa.Array] = []
    for index, column in enumerate(columns):
        if index:
            pieces.append(sep)
        pieces.append(column)
    pieces.append(end)
    return pieces


def _merge_scalars(pieces: Sequence[str | pa.Array]) -> list[str | pa.Array]:
    """Adjacent constant pieces as one, so the join kernel copies fewer pieces a row."""
    merged: list[str | pa.Array] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def _join_rows(pieces: Sequence[str | pa.Array]) -> bytes:
    """The rows that joining ``pieces`` element-wise makes, back to back: the value
    buffer between the first and last offsets, so no Python work per row."""
    return _value_bytes(pc.binary_join_element_wise(*pieces, ""))


def _replace_all(column: pa.Array, escapes: Sequence[tuple[str, str]]) -> pa.Array:
    for old, new in escapes:
        if old.encode() in _value_bytes(column):
            column = pc.replace_substring(column, old, new)
    return column


# ----------------------------------------------------------------------------- formats


def _csv_quote(column: pa.Array, *, single: bool) -> pa.Array:
    """The column as ``csv.writer`` (minimal quoting, CRLF) writes its fields: quoted,
    quotes doubled, if it holds a comma, quote, CR or LF, and an empty sole field quoted
    so the row is not blank."""
    filled = pc.fill_null(column, "") if column.null_count else column
    data = _value_bytes(filled)
    masks = [pc.match_substring(filled, b.decode()) for b in _CSV_SPECIAL if b in data]
    if single and _has_empty(filled):
        masks.append(pc.equal(pc.binary_length(filled), 0))
    if not masks:
        return filled
    mask = functools.reduce(pc.or_, masks)
    doubled = pc.replace_substring(filled, '"', '""')
    return pc.if_else(mask, pc.binary_join_element_wise('"', doubled, '"', ""), filled)


def _pg_escape(column: pa.Array) -> pa.Array:
    """The column as COPY text: backslash, tab, LF and CR escaped, null as ``\\N``."""
    column = _replace_all(column, _PG_ESCAPES)
    return pc.fill_null(column, "\\N") if column.null_count else column


def _json_literal(column: pa.Array, kind: ColumnKind) -> list[str | pa.Array] | None:
    """Pieces that make each value's JSON text as ``json`` writes ``kind.json_value`` of
    it, or None when that needs Python: an integer not in canonical form (``007``, ``+5``,
    beyond 64 bits) or text with a control character ``json`` writes as ``\\u00XX``."""
    if kind is ColumnKind.INTEGER:
        if not _canonical_integers(column):
            return None
        literal = column
    elif kind is ColumnKind.BOOLEAN:
        literal = pc.if_else(pc.equal(column, "true"), "true", "false")
    else:
        data = _value_bytes(column)
        if len(data.translate(None, _JSON_UNICODE_ESCAPED)) != len(data):
            return None
        if any(needle in data for needle in _JSON_SPECIAL):
            column = _replace_all(column, _JSON_ESCAPES)
        if not column.null_count:
            return ['"', column, '"']
        literal = pc.binary_join_element_wise('"', column, '"', "")
    return [pc.fill_null(literal, "null") if column.null_count else literal]


def _canonical_integers(column: pa.Array) -> bool:
    """Whether every value is the text ``str(int(value))`` gives back, so ``json`` writes
    the value unchanged: parsed as a 64-bit integer and printed again, it is the same."""
    try:
        parsed = pc.cast(column, pa.int64())
    except pa.ArrowInvalid:
        return False
    return not _any(pc.not_equal(pc.cast(parsed, pa.string()), column))
