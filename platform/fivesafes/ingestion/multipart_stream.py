"""Streaming multipart/form-data: the file part goes straight into an encrypted spool.

Starlette's form parser spools large parts to a temporary file in clear; an NHS extract
must not touch the disk that way, so the request body is parsed here, chunk by chunk,
with python-multipart's push parser, and every byte of the file part is encrypted before
it is written. The size limit is enforced while streaming (413 as soon as it is crossed).
A body that stops before its closing boundary is refused: a dropped connection or a
client that gave up must not become a complete-looking, truncated dataset version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from python_multipart.multipart import MultipartParser, parse_options_header

from fivesafes.errors import FivesafesError, InvalidInputError, PayloadTooLargeError
from fivesafes.ingestion.spool import SpoolFile, SpoolWriter

FILE_FIELD = "file"


@dataclass(slots=True)
class _PartState:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    is_file: bool = False
    filename: str | None = None
    files_seen: int = 0
    ended: bool = False


class FileWatch(Protocol):
    """Sees the file part as it streams in, and may refuse it there and then by raising
    (``ingestion.header_check.HeaderCheck``: the header row against the policy)."""

    def start(self, filename: str) -> None: ...

    def feed(self, data: bytes) -> None: ...

    def finish(self) -> None: ...


class _Watching:
    """The watch as the parser's callbacks call it: they must not raise (python-multipart
    would report a malformed body), so what the watch raises is kept in ``problems``, which
    the parse loop raises after the chunk. Only the first file part is watched."""

    def __init__(self, watch: FileWatch | None, problems: list[Exception]) -> None:
        self._watch = watch
        self._problems = problems
        self._started = False

    def start(self, filename: str) -> None:
        if self._watch is not None and not self._started and not self._problems:
            self._started = True
            self._guarded(self._watch.start, filename)

    def feed(self, data: bytes) -> None:
        if self._watch is not None and self._started and not self._problems:
            self._guarded(self._watch.feed, data)

    def _guarded(self, step: Callable[[Any], None], argument: object) -> None:
        try:
            step(argument)
        except FivesafesError as exc:
            self._problems.append(exc)


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    filename: str
    spool: SpoolFile


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise InvalidInputError(
            "expected a multipart/form-data body with the extract in a field named 'file'",
            code="invalid_upload",
        )
    return options[b"boundary"]


async def receive_file(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    writer: SpoolWriter,
    max_bytes: int,
    watch: FileWatch | None = None,
) -> ReceivedFile:
    """Parse the body; the part named ``file`` is written to ``writer``; others ignored.

    ``watch`` sees the file part as it arrives; what it raises stops the upload at once,
    before the rest of the body is read.
    """
    state = _PartState()
    problems: list[Exception] = []

    watching = _Watching(watch, problems)

    def on_part_begin() -> None:
        state.headers.clear()
        state.is_file = False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    def on_header_end() -> None:
        state.headers[bytes(state.header_field).lower()] = bytes(state.header_value)
        state.header_field.clear()
        state.header_value.clear()

    def on_headers_finished() -> None:
        _, options = parse_options_header(state.headers.get(b"content-disposition"))
        if options.get(b"name") == FILE_FIELD.encode():
            state.is_file = True
            state.files_seen += 1
            raw_name = options.get(b"filename", b"")
            state.filename = (
                raw_name.decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
            )
            if state.filename:  # no name: refused below, as a body without one
                watching.start(state.filename)

    def on_end() -> None:
        state.ended = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if not state.is_file or problems:
            return
        if writer.spool.size + (end - start) > max_bytes:
            problems.append(
                PayloadTooLargeError(
                    f"upload exceeds the limit of {max_bytes} bytes", code="upload_too_large"
                )
            )
            return
        watching.feed(data[start:end])
        if not problems:
            writer.write(data[start:end])

    parser = MultipartParser(
        boundary_of(content_type),
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_end": on_end,
        },
    )
    try:
        async for chunk in chunks:
            parser.write(chunk)
            if problems:
                raise problems[0]
        parser.finalize()
    except (InvalidInputError, PayloadTooLargeError):
        raise
    except Exception as exc:  # python-multipart's own parse errors
        raise InvalidInputError(
            f"malformed multipart body ({type(exc).__name__})", code="invalid_upload"
        ) from None
    if not state.ended:
        raise InvalidInputError(
            "the multipart body ended before its closing boundary (the upload was cut "
            "short): nothing was stored, send the file again",
            code="truncated_upload",
        )
    if state.files_seen != 1 or not state.filename:
        raise InvalidInputError(
            "the body must hold exactly one file, in a field named 'file', with a file name",
            code="invalid_upload",
        )
    if watch is not None:
        watch.finish()
    return ReceivedFile(filename=state.filename, spool=writer.finish())
