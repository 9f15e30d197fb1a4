"""JSON Lines extracts: one JSON object per line; the first record's keys are the header.

Parsed in the parent into columns of text (numbers and booleans rendered as the text the
transforms parse). A key the first record did not have is refused (fail closed); a key a
later record omits is a null.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any

from fivesafes.deid.io.control import control_reason, find_control
from fivesafes.deid.io.limits import (
    field_too_long_error,
    limit_error,
    over_field_limit,
    size_text,
)
from fivesafes.deid.io.types import Cell, Chunk, TextStream
from fivesafes.deid.redact import safe_header_name, value_shape
from fivesafes.errors import InputFileError


class JsonLinesSource(TextStream):
    """One JSON object per line; the first record's keys are the header."""

    format = "jsonl"

    def _open(self) -> None:
        self._line = 0
        first = self._next_record()
        if first is None:
            raise InputFileError("file is empty (no records)", file=self.file, line=1)
        self._first: tuple[int, dict[str, Any]] | None = first
        self.header = list(first[1])
        if len(self.header) > self.limits.max_cells_per_row:
            raise self._too_many_keys(first[0], len(self.header))
        for index, name in enumerate(self.header):
            if (at := find_control(name)) >= 0:
                raise InputFileError(
                    control_reason(name[at]),
                    file=self.file,
                    line=first[0],
                    column=f"(key {index + 1})",
                )

    def _too_many_keys(self, line: int, count: int) -> InputFileError:
        return limit_error(
            f"record has {count} keys, more than the limit of {self.limits.max_cells_per_row}",
            "max_cells_per_row",
            file=self.file,
            line=line,
        )

    def _lines(self) -> Iterator[bytes]:
        """Lines of the input, refused as soon as one passes the line limit."""
        most = self.limits.max_line_bytes
        while line_bytes := self._handle.readline(most + 1):
            if len(line_bytes) > most and not line_bytes.endswith(b"\n"):
                raise limit_error(
                    f"a line longer than the limit of {size_text(most)}",
                    "max_line_bytes",
                    file=self.file,
                    line=self._line + 1,
                )
            yield line_bytes

    def _next_record(self) -> tuple[int, dict[str, Any]] | None:
        for line_bytes in map(self._hashed, self._lines()):
            self._consumed += len(line_bytes)
            self._line += 1
            raw = line_bytes
            if self._line == 1 and raw.startswith(codecs.BOM_UTF8) and self.encoding == "utf-8":
                raw = raw[len(codecs.BOM_UTF8) :]
            if not raw.strip():
                continue
            try:
                text = raw.decode(self.encoding)
            except UnicodeDecodeError:
                raise InputFileError(
                    "not valid UTF-8" if self.encoding == "utf-8" else f"not valid {self.encoding}",
                    file=self.file,
                    line=self._line,
                ) from None
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputFileError(
                    f"not valid JSON ({exc.msg} at character {exc.colno})",
                    file=self.file,
                    line=self._line,
                ) from None
            except (ValueError, RecursionError):  # a 5,000-digit number, [[[[... nesting
                raise InputFileError(
                    "JSON value too large or too deeply nested", file=self.file, line=self._line
                ) from None
            if not isinstance(record, dict):
                raise InputFileError(
                    "each line must be a JSON object", file=self.file, line=self._line
                )
            return self._line, record
        return None

    def chunks(self, rows_hint: int) -> Iterator[Chunk]:
        index = 0
        width = len(self.header)
        position = {name: i for i, name in enumerate(self.header)}
        while True:
            columns: list[list[Cell]] = [[] for _ in range(width)]
            lines: list[int] = []
            while len(lines) < rows_hint:
                item = self._first or self._next_record()
                self._first = None
                if item is None:
                    break
                line, record = item
                if len(record) > width and len(record) > self.limits.max_cells_per_row:
                    raise self._too_many_keys(line, len(record))
                values: list[Cell] = [None] * width
                for key, value in record.items():
                    at = position.get(key)
                    if at is None:
                        raise InputFileError(
                            "key not among the columns of the first record (undeclared)",
                            file=self.file,
                            line=line,
                            column=_key_label(key, self.header),
                        )
                    cell = values[at] = _json_cell(value, self.file, line, key)
                    if cell is not None and over_field_limit(cell, self.limits):
                        raise field_too_long_error(self.limits, self.file, line, key)
                for i, value in enumerate(values):
                    columns[i].append(value)
                lines.append(line)
            if not lines:
                break
            yield Chunk(index, lines[0], self._consumed, columns=columns, lines=lines)
            index += 1
        self._done = True


def _key_label(key: str, header: list[str]) -> str:
    """An undeclared key as errors name it: its text only if column-shaped (redact)."""
    if safe_header_name(key, header) is not None:
        return key
    return f"(a key: {value_shape(key)})"


def _json_cell(value: Any, file: str, line: int, column: str) -> Cell:
    if isinstance(value, str):
        if (at := find_control(value)) >= 0:
            raise InputFileError(control_reason(value[at]), file=file, line=line, column=column)
        return value
    if value is None:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise InputFileError(
        "nested objects and arrays are not supported", file=file, line=line, column=column
    )
