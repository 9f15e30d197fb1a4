"""Readers for binary extract formats: XLSX (openpyxl, read-only) and Parquet (pyarrow).

Separate from the CSV reader (:mod:`.csv_source`) so that a CSV run never imports pyarrow
or openpyxl (faster start, smaller workers). Both parse in the parent process into columns
of text; values are rendered as the text the transforms parse (dates as ISO).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any, BinaryIO

from fivesafes.deid.io.control import control_reason, first_control_in_column
from fivesafes.deid.io.limits import (
    DEFAULT_LIMITS,
    ReaderLimits,
    field_too_long_error,
    limit_error,
    over_field_limit,
)
from fivesafes.deid.io.types import Cell, Chunk
from fivesafes.deid.io.xlsx_guard import check_workbook
from fivesafes.errors import InputFileError


def _refuse_controls(
    file: str, header: list[str], columns: list[list[Cell]], lines: list[int]
) -> None:
    """:class:`InputFileError` at the first control character in a parsed chunk."""
    for name, values in zip(header, columns, strict=True):
        if hit := first_control_in_column(values):
            raise InputFileError(control_reason(hit[1]), file=file, line=lines[hit[0]], column=name)


def _refuse_long_cells(
    file: str, header: list[str], columns: list[list[Cell]], lines: list[int], limits: ReaderLimits
) -> None:
    """:class:`InputFileError` at the first cell over the field limit in a parsed chunk."""
    quick = limits.max_field_bytes // 4
    for name, values in zip(header, columns, strict=True):
        if max(map(len, filter(None, values)), default=0) <= quick:
            continue  # no cell can pass the limit: one C-speed pass over the lengths
        for row, value in enumerate(values):
            if value and over_field_limit(value, limits):
                raise field_too_long_error(limits, file, lines[row], name)


def _too_many_cells(file: str, line: int, count: int, limits: ReaderLimits) -> InputFileError:
    return limit_error(
        f"row has {count} cells, more than the limit of {limits.max_cells_per_row}",
        "max_cells_per_row",
        file=file,
        line=line,
    )


def _refuse_control_in_header(file: str, header: list[str], line: int) -> None:
    """Column names are checked like cells, and named by position (they hold the char)."""
    if hit := first_control_in_column(header):
        raise InputFileError(
            control_reason(hit[1]), file=file, line=line, column=f"(field {hit[0] + 1})"
        )


def cell_text(value: Any) -> Cell:
    """A spreadsheet or Arrow value as text in the form the transforms parse."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: What pyarrow raises for a damaged file (OSError covers its ArrowIOError; names in the
#: metadata that are not UTF-8 raise UnicodeDecodeError, a ValueError).
_PARQUET_ERRORS = (OSError, ValueError, KeyError, IndexError, EOFError, NotImplementedError)


def _sha256(handle: BinaryIO) -> str:
    """Hash a seekable input from its start (the readers have moved its position)."""
    position = handle.tell()
    handle.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    handle.seek(position)
    return digest.hexdigest()


class XlsxSource:
    """The first worksheet of a workbook; its first non-empty row is the header."""

    format = "xlsx"

    def __init__(self, handle: BinaryIO, label: str, limits: ReaderLimits = DEFAULT_LIMITS) -> None:
        import openpyxl  # noqa: PLC0415
        from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

        self.file = label
        self.limits = limits
        self._handle = handle
        check_workbook(handle, label, limits)  # before openpyxl reads a byte of it
        try:
            self._book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except (InvalidFileException, OSError, KeyError, ValueError) as exc:
            raise InputFileError(
                f"not a readable XLSX workbook ({type(exc).__name__})", file=self.file
            ) from None
        except Exception as exc:  # zipfile.BadZipFile and friends
            raise InputFileError(
                f"not a readable XLSX workbook ({type(exc).__name__})", file=self.file
            ) from None
        sheet = self._book.worksheets[0]
        self.total_units: int | None = sheet.max_row
        # The <dimension> element is the file's claim, not a fact: a forged A1:XFD1048576
        # would pad every row to 16,384 cells and add a million empty rows. Rows are
        # taken as they are (a short row's missing cells are empty, as before).
        sheet.reset_dimensions()
        self._rows: Iterator[tuple[Any, ...]] = self._checked(sheet.iter_rows(values_only=True))
        self._row_number = 0
        header: list[str] | None = None
        for values in self._rows:
            self._row_number += 1
            if len(values) > limits.max_cells_per_row:
                raise _too_many_cells(self.file, self._row_number, len(values), limits)
            if any(v is not None for v in values):
                header = [("" if v is None else str(v)) for v in values]
                break
        if header is None:
            raise InputFileError("workbook is empty (no header row)", file=self.file, line=1)
        while header and not header[-1]:
            header.pop()
        if any(not name.strip() for name in header):
            raise InputFileError(
                "header row has an empty column name", file=self.file, line=self._row_number
            )
        _refuse_control_in_header(self.file, header, self._row_number)
        self.header = header

    def _checked(self, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """Rows as openpyxl parses them lazily; a corrupt sheet is an InputFileError.

        The worksheet XML is only parsed while iterating, so a damaged or truncated
        member surfaces here (``ParseError``, ``BadZipFile``, ``zlib.error``...), not when
        the workbook is opened.
        """
        try:
            yield from rows
        except Exception as exc:  # whatever openpyxl, zipfile or the XML parser raise
            raise InputFileError(
                f"corrupt worksheet data ({type(exc).__name__})",
                file=self.file,
                line=self._row_number + 1,
            ) from None

    def chunks(self, rows_hint: int) -> Iterator[Chunk]:
        width = len(self.header)
        index = 0
        while True:
            columns: list[list[Cell]] = [[] for _ in range(width)]
            lines: list[int] = []
            for values in self._rows:
                self._row_number += 1
                if len(values) > self.limits.max_cells_per_row:
                    raise _too_many_cells(self.file, self._row_number, len(values), self.limits)
                if all(v is None for v in values):
                    continue
                if len(values) > width and any(v is not None for v in values[width:]):
                    raise InputFileError(
                        f"ragged row: values beyond the header's {width} columns",
                        file=self.file,
                        line=self._row_number,
                        column=f"(field {width + 1}, beyond the header)",
                    )
                for i in range(width):
                    columns[i].append(cell_text(values[i]) if i < len(values) else None)
                lines.append(self._row_number)
                if len(lines) >= rows_hint:
                    break
            if not lines:
                break
            _refuse_controls(self.file, self.header, columns, lines)
            _refuse_long_cells(self.file, self.header, columns, lines, self.limits)
            yield Chunk(index, lines[0], self._row_number, columns=columns, lines=lines)
            index += 1

    def sha256(self) -> str | None:
        return _sha256(self._handle)

    def close(self) -> None:
        self._book.close()
        self._handle.close()


class ParquetSource:
    """A Parquet file read record batch by record batch; line = 1-based record number.

    pyarrow reports damage as ``OSError`` (a page that does not decompress, thrift that
    does not deserialise), ``ArrowException`` or ``UnicodeDecodeError`` (names in the
    metadata): each is an :class:`InputFileError` naming the row group, its records and,
    found by reading that row group again column by column, the damaged column. Only the
    exception's type is kept: pyarrow's messages can quote data.
    """

    format = "parquet"

    def __init__(self, handle: BinaryIO, label: str, limits: ReaderLimits = DEFAULT_LIMITS) -> None:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        self.file = label
        self.limits = limits
        self._handle = handle
        self._pa = pa
        self._errors = (*_PARQUET_ERRORS, pa.ArrowException)
        try:
            self._parquet = pq.ParquetFile(handle)
            self.header: list[str] = list(self._parquet.schema_arrow.names)
            self.total_units: int | None = self._parquet.metadata.num_rows
            metadata = self._parquet.metadata
            self._group_rows = [
                metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)
            ]
        except self._errors as exc:
            raise InputFileError(
                f"not a readable Parquet file ({type(exc).__name__})", file=self.file
            ) from None
        if not self.header:
            raise InputFileError("Parquet file has no columns", file=self.file, line=1)
        _refuse_control_in_header(self.file, self.header, 1)

    def chunks(self, rows_hint: int) -> Iterator[Chunk]:
        pa = self._pa
        done = 0
        try:
            for index, batch in enumerate(self._parquet.iter_batches(batch_size=rows_hint)):
                columns: list[list[Cell]] = []
                for name, array in zip(self.header, batch.columns, strict=True):
                    try:
                        columns.append(array.cast(pa.string()).to_pylist())
                    except (pa.ArrowException, ValueError):
                        raise InputFileError(
                            f"column type {array.type} cannot be read as text",
                            file=self.file,
                            line=done + 1,
                            column=name,
                        ) from None
                count = batch.num_rows
                lines = list(range(done + 1, done + count + 1))
                _refuse_controls(self.file, self.header, columns, lines)
                _refuse_long_cells(self.file, self.header, columns, lines, self.limits)
                done += count
                yield Chunk(index, done - count + 1, done, columns=columns, lines=lines)
        except self._errors as exc:
            raise self._corrupt(done, exc) from None

    def _corrupt(self, done: int, exc: BaseException) -> InputFileError:
        """Where the damage is: the first row group at or after ``done`` records, and the
        column, that cannot be read alone (pyarrow reads ahead, so the batch that failed
        says little). Error path only: it re-reads row groups column by column."""
        starts, first = [], 0
        for rows in self._group_rows:
            starts.append(first)
            first += rows
        group = max((g for g, at in enumerate(starts) if at <= done), default=0)
        for candidate in range(group, len(self._group_rows)):
            for name in self.header:
                try:
                    self._parquet.read_row_group(candidate, columns=[name])
                except self._errors:
                    return self._corrupt_at(candidate, starts[candidate], name, exc)
        at = starts[group] if starts else done
        return self._corrupt_at(group if starts else None, at, None, exc)

    def _corrupt_at(
        self, group: int | None, first: int, column: str | None, exc: BaseException
    ) -> InputFileError:
        where = ""
        if group is not None:
            last = first + self._group_rows[group]
            where = f" in row group {group + 1} (records {first + 1}-{last})"
        return InputFileError(
            f"corrupt Parquet data{where} ({type(exc).__name__})",
            file=self.file,
            line=first + 1,
            column=column,
        )

    def sha256(self) -> str | None:
        return _sha256(self._handle)

    def close(self) -> None:
        self._parquet.close()
        self._handle.close()
