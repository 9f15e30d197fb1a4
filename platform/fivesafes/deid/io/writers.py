"""Writers for de-identified output: CSV, JSON Lines and Parquet, chosen by extension.

Output is written to a hidden temporary file in the destination folder and renamed into
place only after the last row: a failed run (bad input half-way, a crash, Ctrl-C) leaves
no partial file that someone could mistake for a complete extract.

CSV and JSON Lines chunks are encoded in the worker processes (:func:`encode_csv`,
:func:`encode_jsonl`) so the parent only writes bytes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, cast

from fivesafes.column_kinds import ColumnKind
from fivesafes.deid.plan import Column, OutputColumn
from fivesafes.errors import InvalidInputError

OutputFormat = Literal["csv", "jsonl", "parquet"]
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}


def output_format(path: Path) -> OutputFormat:
    """The output format named by ``path``'s extension."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInputError(
            f"{path}: unsupported output type {path.suffix or '(none)'!r}; expected "
            + ", ".join(sorted(OUTPUT_FORMATS))
        )
    return fmt


_NEEDS_QUOTING = (",", '"', "\n", "\r")


def encode_csv(columns: Sequence[Column]) -> bytes:
    """CSV rows (no header) for columns of one chunk, RFC 4180 (CRLF line ends).

    ``csv.writer`` quotes a field holding a character of its line terminator, so CRLF also
    makes it quote a lone carriage return, which would otherwise end the row on reading.

    Most de-identified values (pseudonyms, dates, bands, codes) never need quoting, and
    joining strings is about three times faster than ``csv.writer``; a column holding a
    comma, quote or line break sends the chunk through ``csv.writer`` instead.
    """
    if not columns or not columns[0]:
        return b""
    plain: list[Sequence[str]] = []
    for column in columns:
        values = cast(
            "Sequence[str]",
            ["" if v is None else v for v in column] if None in column else column,
        )
        joined = "".join(values)
        if len(columns) == 1 or any(ch in joined for ch in _NEEDS_QUOTING):
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerows(zip(*columns, strict=True))
            return buffer.getvalue().encode("utf-8")
        plain.append(values)
    return ("\r\n".join(map(",".join, zip(*plain, strict=True))) + "\r\n").encode("utf-8")


_PG_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_PG_SPECIAL = ("\\", "\t", "\n", "\r")


def encode_pgcopy(columns: Sequence[Column]) -> bytes:
    """PostgreSQL COPY text format for one chunk: tab-separated, ``\\N`` for null.

    Made in the workers so the parent only streams bytes into ``COPY ... FROM STDIN``.
    Backslash, tab, newline and carriage return are escaped as COPY's text format needs.
    """
    if not columns or not columns[0]:
        return b""
    prepared: list[Sequence[str]] = []
    for column in columns:
        joined = "".join(v for v in column if v is not None)
        needs_escape = any(ch in joined for ch in _PG_SPECIAL)
        if None in column or needs_escape:
            prepared.append(
                [
                    "\\N" if v is None else (v.translate(_PG_ESCAPES) if needs_escape else v)
                    for v in column
                ]
            )
        else:
            prepared.append(cast("Sequence[str]", column))
    return ("\n".join(map("\t".join, zip(*prepared, strict=True))) + "\n").encode("utf-8")


def encode_header(outputs: Sequence[OutputColumn]) -> bytes:
    """The CSV header row."""
    return encode_csv([[c.name] for c in outputs])


#: Kinds whose JSON value is not simply their text.
_JSON_TYPED = frozenset({ColumnKind.INTEGER, ColumnKind.BOOLEAN})


def encode_jsonl(columns: Sequence[Column], outputs: Sequence[OutputColumn]) -> bytes:
    """One JSON object per row, values as :meth:`ColumnKind.json_value` makes them."""
    names = [c.name for c in outputs]
    converted: list[Sequence[Any]] = []
    for column, out in zip(columns, outputs, strict=True):
        typed = out.kind in _JSON_TYPED
        converted.append([out.kind.json_value(v) for v in column] if typed else column)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = [dumps(dict(zip(names, row, strict=True))) for row in zip(*converted, strict=True)]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


class AtomicOutput:
    """A temp file beside ``path``, renamed to it on success and removed on failure."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tmp: Path | None = None
        self.handle: BinaryIO | None = None

    def __enter__(self) -> AtomicOutput:
        folder = self.path.parent
        if not folder.is_dir():
            raise InvalidInputError(f"{self.path}: output folder does not exist")
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=folder)
        self._tmp = Path(name)
        self.handle = os.fdopen(fd, "wb")
        return self

    @property
    def temp_path(self) -> Path:
        assert self._tmp is not None
        return self._tmp

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tmp is not None
        assert self.handle is not None
        try:
            if not self.handle.closed:
                self.handle.close()
            if exc_type is None:
                os.chmod(self._tmp, 0o640)
                os.replace(self._tmp, self.path)
        finally:
            if self._tmp.exists():
                self._tmp.unlink()


class ChunkWriter:
    """Writes encoded or columnar chunks in order to an :class:`AtomicOutput`."""

    def __init__(self, target: AtomicOutput, fmt: OutputFormat, outputs: Sequence[OutputColumn]):
        self.fmt = fmt
        self.outputs = list(outputs)
        self._target = target
        self._parquet: Any = None
        if fmt == "csv":
            self._handle().write(encode_header(outputs))
        elif fmt == "parquet":
            import pyarrow as pa  # noqa: PLC0415
            import pyarrow.parquet as pq  # noqa: PLC0415

            self._pa = pa
            self._schema = pa.schema([(c.name, c.kind.arrow_type()) for c in outputs])
            self._parquet = pq.ParquetWriter(self._handle(), self._schema, compression="zstd")

    def _handle(self) -> BinaryIO:
        assert self._target.handle is not None
        return self._target.handle

    def write_bytes(self, payload: bytes) -> None:
        self._handle().write(payload)

    def write_columns(self, columns: Sequence[Column]) -> None:
        if self.fmt == "csv":
            self._handle().write(encode_csv(columns))
        elif self.fmt == "jsonl":
            self._handle().write(encode_jsonl(columns, self.outputs))
        else:
            pa = self._pa
            arrays = [
                out.kind.arrow_array(col) for col, out in zip(columns, self.outputs, strict=True)
            ]
            self._parquet.write_batch(pa.record_batch(arrays, schema=self._schema))

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
