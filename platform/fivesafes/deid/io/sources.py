"""Opening an extract: its format from its name, then the reader for that format.

The one module that knows every reader. Errors name the file, the line (1-based, the
header is line 1; spreadsheet row for XLSX; record number for Parquet) and the column,
never the cell's content.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from fivesafes.deid.io.csv_source import CsvSource
from fivesafes.deid.io.jsonl import JsonLinesSource
from fivesafes.deid.io.limits import DEFAULT_LIMITS, ReaderLimits
from fivesafes.deid.io.types import Source, StreamInput
from fivesafes.errors import InputFileError

INPUT_FORMATS = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def input_format(name: str) -> str:
    """The format of an extract named ``name``; :class:`InputFileError` if unsupported."""
    suffix = Path(name).suffix.lower()
    fmt = INPUT_FORMATS.get(suffix)
    if fmt is None:
        raise InputFileError(
            f"unsupported input type {suffix or '(none)'!r}; expected "
            + ", ".join(sorted(INPUT_FORMATS)),
            file=name,
        )
    return fmt


def open_source(
    path: Path | StreamInput, *, encoding: str = "utf-8", limits: ReaderLimits = DEFAULT_LIMITS
) -> Source:
    """Open an extract by its extension; :class:`InputFileError` if unsupported or unreadable.

    ``limits`` bound what one extract may make the reader hold (:mod:`.limits`).
    """
    if isinstance(path, StreamInput):
        label, fmt, size, open_bytes = path.name, input_format(path.name), path.size, path.opener
    else:
        file_path = path
        label, fmt = str(file_path), input_format(file_path.name)
        if not file_path.is_file():
            raise InputFileError("input file not found", file=label)
        size = file_path.stat().st_size

        def open_bytes() -> BinaryIO:
            return file_path.open("rb")

    if fmt == "csv":
        return CsvSource(open_bytes(), label, size, encoding, limits)
    if fmt == "jsonl":
        return JsonLinesSource(open_bytes(), label, size, encoding, limits)
    from fivesafes.deid.io import columnar  # noqa: PLC0415 - pyarrow/openpyxl only when needed

    # Workbooks and Parquet need random access: a spooled upload is read into memory
    # (bounded by the upload limit); a plain file or a seekable stream is read in place.
    handle = open_bytes()
    if isinstance(path, StreamInput) and not path.seekable:
        with handle:
            handle = io.BytesIO(handle.read())
    if fmt == "xlsx":
        return columnar.XlsxSource(handle, label, limits)
    return columnar.ParquetSource(handle, label, limits)
