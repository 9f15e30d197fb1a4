"""An upload's header row, checked against the dataset's policy as soon as it arrives.

Without this, an extract with the wrong columns was refused only once the whole file had
been sent (minutes for a large one) and queued. The upload route hands each piece of the
file part to a :class:`HeaderCheck` as it streams in: once the first record is in (a CSV
header row, a JSON Lines first object), it is read by the same reader and checked by the
same :func:`~fivesafes.deid.policy.check_columns` as ingestion does, and a wrong header
is refused (422, naming the file, line 1 and the columns) before the rest is read. An
unsupported file type is refused as soon as the file's name arrives.

Spreadsheets and Parquet keep their header inside a container that must be read whole:
they are checked by ingestion, as before. So is a header row longer than the reader's line
limit (the reader refuses it there with the limit's own message). A policy's encoding is
ASCII-compatible (``deid.policy`` refuses others), so a newline is one byte.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from fivesafes.deid.io.csv_source import first_record_end
from fivesafes.deid.io.limits import ReaderLimits
from fivesafes.deid.io.sources import input_format, open_source
from fivesafes.deid.io.types import StreamInput
from fivesafes.deid.policy import Policy, check_columns


def _first_line_end(buffer: bytes) -> int:
    """A JSON Lines record is one line (JSON escapes a newline inside a string)."""
    return buffer.find(b"\n")


#: Formats whose first record arrives first, and how to find where it ends (-1: not yet).
_FIRST_RECORD_END: dict[str, Callable[[bytes], int]] = {
    "csv": first_record_end,
    "jsonl": _first_line_end,
}


class HeaderCheck:
    """Watches one upload's file part; raises :class:`InputFileError` when it is wrong."""

    def __init__(self, policy: Policy, limits: ReaderLimits) -> None:
        self._policy = policy
        self._limits = limits
        self._filename = ""
        self._format = ""
        self._buffer = bytearray()
        self.done = False

    def start(self, filename: str) -> None:
        """The file part begins: its name says its format (an unsupported one is refused)."""
        self._filename = filename
        self._format = input_format(filename)
        self.done = self._format not in _FIRST_RECORD_END

    def feed(self, data: bytes) -> None:
        """More of the file: check the header once its record is complete."""
        if self.done:
            return
        self._buffer += data
        end = _FIRST_RECORD_END[self._format](bytes(self._buffer))
        if end >= 0:
            self._check(bytes(self._buffer[: end + 1]))
        elif len(self._buffer) > self._limits.max_line_bytes:
            self.done = True  # the reader refuses an over-long record at ingestion

    def finish(self) -> None:
        """The file ended within its first record: that record is the whole file."""
        if not self.done:
            self._check(bytes(self._buffer))

    def _check(self, first_record: bytes) -> None:
        self.done = True
        self._buffer = bytearray()

        def opener() -> io.BytesIO:
            return io.BytesIO(first_record)

        source = open_source(
            StreamInput(self._filename, opener, len(first_record)),
            encoding=self._policy.input.encoding,
            limits=self._limits,
        )
        try:
            check_columns(self._policy, source.header, source.file)
        finally:
            source.close()
