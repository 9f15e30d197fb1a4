"""What the readers, the workers and the engine share: chunks, cells and an open source.

Kept apart from every reader so that no reader imports another (the CSV reader was the
common module the others imported, and it imported them back to dispatch: a circle).
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol

from fivesafes.deid.io.limits import DEFAULT_LIMITS, ReaderLimits

if TYPE_CHECKING:
    import pyarrow as pa

Cell = str | None


class CellProblem(Exception):  # noqa: N818 - a value crossing process boundaries, not API
    """A problem at a position, raised in workers (picklable) and turned into
    :class:`~fivesafes.errors.InputFileError` by the engine, which knows the file."""

    def __init__(
        self,
        reason: str,
        line: int | None = None,
        column: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(reason, line, column, code)
        self.reason = reason
        self.line = line
        self.column = column
        self.code = code


@dataclass(slots=True)
class Chunk:
    """One unit of work: raw CSV bytes, or parsed columns in header order."""

    index: int
    first_line: int
    units_done: int  # bytes (CSV, JSONL) or rows (XLSX, Parquet) consumed up to its end
    csv_bytes: bytes | None = None
    columns: list[list[Cell]] | None = None
    lines: list[int] | None = None


@dataclass(slots=True)
class ParsedChunk:
    """Columns of one chunk plus a way to find the input line of any row (errors only).

    ``locate`` computes the lines when the reader did not know them cheaply (a CSV chunk
    whose records span lines): only an error path ever needs them.

    ``arrays`` holds the same columns as Arrow string arrays (no nulls: an empty cell is
    ``""``) when the chunk was parsed by the vectorised reader
    (:mod:`fivesafes.deid.vector.csv_parse`); ``columns`` is then filled from them only
    for a column that leaves the vectorised path (see :meth:`column`).
    """

    columns: list[Sequence[Cell]]
    row_count: int
    first_line: int
    lines: list[int] | None = None
    locate: Callable[[], list[int]] | None = field(default=None, repr=False)
    arrays: list[pa.StringArray] | None = field(default=None, repr=False)

    def column(self, index: int) -> Sequence[Cell]:
        """Column ``index`` as Python values, materialised from ``arrays`` once if needed."""
        if self.arrays is not None and not self.columns:
            self.columns = [None] * len(self.arrays)  # type: ignore[list-item]
        if self.arrays is not None and self.columns[index] is None:
            self.columns[index] = self.arrays[index].to_pylist()
        return self.columns[index]

    @classmethod
    def of_columns(cls, chunk: Chunk) -> ParsedChunk:
        """A chunk the parent already parsed into columns (every format but CSV)."""
        assert chunk.columns is not None
        rows = len(chunk.columns[0]) if chunk.columns else 0
        return cls(list(chunk.columns), rows, chunk.first_line, chunk.lines)

    def line_of(self, row: int) -> int:
        """The 1-based input line on which row ``row`` of this chunk starts."""
        if self.lines is None:
            assert self.locate is not None
            self.lines = self.locate()
        return self.lines[row]


class Source(Protocol):
    """An open extract: its header and a stream of chunks."""

    file: str
    format: str
    header: list[str]
    total_units: int | None

    def chunks(self, rows_hint: int) -> Iterator[Chunk]: ...

    def sha256(self) -> str | None:
        """Hash of the raw input bytes once fully read (None if not tracked)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StreamInput:
    """An extract that is not a plain file (an encrypted upload spool): opened on demand.

    ``name`` is what users call the file: it names the format (by extension) and appears
    in error messages. ``opener`` returns a fresh stream of the plaintext bytes.
    """

    name: str
    opener: Callable[[], BinaryIO]
    size: int | None = None
    #: The stream seeks cheaply (a remote file read by position): workbooks and Parquet
    #: are read in place rather than copied into memory first.
    seekable: bool = False


class TextStream:
    """The part of a text-format source (CSV, JSON Lines) that reads its bytes once, front
    to back: the decoded encoding's name, the bytes consumed, and their hash as they pass
    (the upload's content hash costs no second read). ``sha256`` is known only once the
    whole input has been read. Each format reads its header in :meth:`_open`."""

    header: list[str]

    def __init__(
        self,
        handle: BinaryIO,
        label: str,
        size: int | None,
        encoding: str,
        limits: ReaderLimits = DEFAULT_LIMITS,
    ) -> None:
        self.file = label
        self.limits = limits
        self.encoding = codecs.lookup(encoding).name
        self.total_units: int | None = size
        self._handle: BinaryIO = handle
        self._hash = hashlib.sha256()
        self._consumed = 0
        self._done = False
        self._open()

    def _open(self) -> None:
        """Read up to the first data record: set ``header`` (refusing a bad one)."""
        raise NotImplementedError

    def _hashed(self, data: bytes) -> bytes:
        """``data`` just read from the input, added to the hash."""
        self._hash.update(data)
        return data

    def sha256(self) -> str | None:
        return self._hash.hexdigest() if self._done else None

    def close(self) -> None:
        self._handle.close()
