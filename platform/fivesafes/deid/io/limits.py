"""Limits the readers enforce while streaming, so one hostile extract cannot exhaust memory.

An extract is small on disk but may be enormous once read: a 585 KB workbook can hold ten
million shared strings (1.7 GB and minutes of one worker's time), a single 70 MB CSV
line must be held whole before it can be parsed. Each limit is checked *before* the
expensive step it protects (zip members before openpyxl opens them, record length before
the CSV parser sees it) and refused with :class:`~fivesafes.errors.InputFileError` whose
code is ``input_limit_exceeded`` and whose message names the limit, its setting and where
(file, line, column) it was passed. The defaults are far above what clinical extracts
hold (Excel itself caps a cell at 32,767 characters and a row at 16,384 cells).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fivesafes.errors import InputFileError

if TYPE_CHECKING:
    from fivesafes.config import Settings

LIMIT_CODE = "input_limit_exceeded"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReaderLimits:
    """Per-extract bounds; defaults match the settings' (``FIVESAFES_MAX_FIELD_BYTES``...)."""

    max_field_bytes: int = 8 * MIB
    max_line_bytes: int = 16 * MIB
    max_cells_per_row: int = 4096
    xlsx_max_uncompressed_bytes: int = 256 * MIB
    xlsx_max_ratio: int = 200
    xlsx_max_shared_strings: int = 2_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> ReaderLimits:
        return cls(
            max_field_bytes=settings.max_field_bytes,
            max_line_bytes=max(settings.max_line_bytes, settings.max_field_bytes),
            max_cells_per_row=settings.max_cells_per_row,
            xlsx_max_uncompressed_bytes=settings.xlsx_max_uncompressed_bytes,
            xlsx_max_ratio=settings.xlsx_max_ratio,
            xlsx_max_shared_strings=settings.xlsx_max_shared_strings,
        )


DEFAULT_LIMITS = ReaderLimits()


def size_text(count: int) -> str:
    """A byte count as people read it (``8 MiB``, ``300 KiB``, ``512 bytes``)."""
    if count >= MIB and count % MIB == 0:
        return f"{count // MIB} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count:,} bytes"


def limit_error(
    what: str, setting: str, *, file: str, line: int | None = None, column: str | None = None
) -> InputFileError:
    """A refusal naming the limit passed and the setting that raises it."""
    return InputFileError(
        f"{what} (limit FIVESAFES_{setting.upper()})",
        file=file,
        line=line,
        column=column,
        code=LIMIT_CODE,
    )


def field_too_long(limits: ReaderLimits) -> str:
    """The reason a cell is refused for its length (also used in workers, without a file)."""
    return (
        f"a field longer than the limit of {size_text(limits.max_field_bytes)} "
        "(limit FIVESAFES_MAX_FIELD_BYTES)"
    )


def field_too_long_error(
    limits: ReaderLimits, file: str, line: int, column: str | None
) -> InputFileError:
    """The refusal of a cell for its length, where the reader knows the file."""
    return InputFileError(
        field_too_long(limits), file=file, line=line, column=column, code=LIMIT_CODE
    )


def over_field_limit(value: str, limits: ReaderLimits, encoding: str = "utf-8") -> bool:
    """Whether ``value`` encodes to more bytes than a field may hold (cheap when short)."""
    limit = limits.max_field_bytes
    if len(value) <= limit // 4:  # no encoding takes more than 4 bytes a character
        return False
    return len(value.encode(encoding, errors="replace")) > limit
