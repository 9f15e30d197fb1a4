"""The streaming multipart parser: a body cut before its closing boundary is refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fivesafes.errors import InvalidInputError
from fivesafes.ingestion.multipart_stream import receive_file
from fivesafes.ingestion.spool import SpoolWriter

BOUNDARY = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="e.csv"\r\n'
    "Content-Type: text/csv\r\n\r\n"
).encode()
DATA = b"nhs_number,name\r\n9434765919,Jane Doe\r\n9434765870,John Roe\r\n"
CLOSE = f"\r\n--{BOUNDARY}--\r\n".encode()


async def _chunks(body: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _receive(body: bytes, spool: Path) -> object:
    writer = SpoolWriter(spool, uuid.uuid4())
    try:
        return asyncio.run(receive_file(_chunks(body), CONTENT_TYPE, writer, 10_000))
    except BaseException:
        writer.abort()
        raise


def test_a_complete_body_is_received(tmp_path: Path) -> None:
    received = _receive(HEAD + DATA + CLOSE, tmp_path)
    assert received.spool.read_all() == DATA  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(HEAD + DATA, id="no-closing-boundary"),
        pytest.param(HEAD + DATA[:20], id="mid-data"),
        pytest.param(HEAD + DATA + CLOSE[:-4], id="closing-boundary-cut"),
    ],
)
def test_a_body_cut_before_its_closing_boundary_is_refused_and_nothing_kept(
    tmp_path: Path, cut: bytes
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _receive(cut, tmp_path)
    assert caught.value.code == "truncated_upload"
    assert "9434765919" not in caught.value.message
    assert list(tmp_path.iterdir()) == []  # the spool file went with the refusal
