"""One large upload must not stall the others: real ingestion, a throttled large extract.

The large extract is served by a reader that trickles it out (as a slow disk or a huge
workbook would keep a worker busy); a small upload submitted after it must be ingested
while it is still running, on both dialects.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.datasets.models import DatasetVersion, Upload
from fivesafes.db import session_scope
from fivesafes.deid.io.types import StreamInput
from fivesafes.ingestion.ingestor import IngestionJob, Ingestor, IngestorOptions
from fivesafes.ingestion.runner import IngestionRunner
from fivesafes.ingestion.service import create_upload
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.ingestion.conftest import TRAIL
from tests.integration.ingestion.extracts import dev_rows, synthetic_rows, write_csv

BLOCK = 32 * 1024
PAUSE = 0.08  # about 0.4 MB/s: a 1 MB extract takes some 3 seconds to read


class TrickleReader(io.RawIOBase):
    """Hands out ``BLOCK`` bytes per read, pausing first; tells the test it was read."""

    def __init__(self, data: bytes, reading: threading.Event) -> None:
        self._data = io.BytesIO(data)
        self._reading = reading

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._reading.set()
        time.sleep(PAUSE)
        chunk = self._data.read(min(len(buffer), BLOCK))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture
def runner(
    session_factory: sessionmaker[Session], keystore: InMemoryKeyStore
) -> Iterator[IngestionRunner]:
    # Chunks of 2,000 rows: the 12,000-row upload reports progress six times on the way.
    ingestor = Ingestor(session_factory, keystore, IngestorOptions(chunk_rows=2_000))
    runner = IngestionRunner(ingestor, workers=2, large_bytes=256 * 1024)
    yield runner
    runner.shutdown()
    ingestor.close()


def _job(
    session_factory: sessionmaker[Session], name: str, data: bytes, source: StreamInput | Path
) -> IngestionJob:
    with session_scope(session_factory) as session:
        upload = create_upload(
            session,
            TRAIL,
            "episodes",
            filename=name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    return IngestionJob(upload_id=upload.id, source=source, trail=TRAIL)


def test_a_small_upload_finishes_while_a_large_one_is_still_running(
    load_policy: Callable[..., None],
    session_factory: sessionmaker[Session],
    runner: IngestionRunner,
    tmp_path: Path,
) -> None:
    load_policy()
    big_bytes = write_csv(tmp_path / "big.csv", synthetic_rows(12_000)).read_bytes()
    assert len(big_bytes) > 512 * 1024
    reading = threading.Event()

    def trickle() -> io.BufferedReader:
        return io.BufferedReader(TrickleReader(big_bytes, reading))

    big_job = _job(
        session_factory, "big.csv", big_bytes, StreamInput("big.csv", trickle, len(big_bytes))
    )
    small_path = write_csv(tmp_path / "small.csv", dev_rows(5))
    small_job = _job(session_factory, "small.csv", small_path.read_bytes(), small_path)

    big = runner.submit(big_job)
    assert reading.wait(30), "the large upload never started"
    small = runner.submit(small_job)  # submitted after the large one started

    small_view = small.result(timeout=60)
    assert small_view.state == "succeeded", small_view.errors
    assert not big.done(), "the small upload waited for the large one"
    # Progress of the running large upload is still reported while it runs.
    with session_factory() as session:
        running = session.get(Upload, big_job.upload_id)
        assert running is not None
        assert running.state == "running"
    seen = 0
    while not big.done() and seen == 0:
        seen = runner.rows_processed(running)
        time.sleep(0.02)
    assert 0 < seen < 12_000, "no progress was reported while the large upload ran"

    big_view = big.result(timeout=120)
    assert big_view.state == "succeeded", big_view.errors
    assert big_view.rows_processed == 12_000
    with session_factory() as session:
        versions = {v.number: v.row_count for v in session.scalars(select(DatasetVersion))}
        finished = {
            u.filename: u.finished_at
            for u in session.scalars(select(Upload))
            if u.finished_at is not None
        }
    assert finished["small.csv"] < finished["big.csv"]
    assert versions == {1: 5, 2: 12_000}
