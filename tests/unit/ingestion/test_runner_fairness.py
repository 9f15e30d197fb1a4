"""The runner's fair queue: which job starts next, with a fake ingestor whose jobs we end.

The fake records the order jobs start in and holds each one until the test lets it go,
so every assertion is about the runner's scheduling rule and nothing else.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from fivesafes.deid.io.types import StreamInput
from fivesafes.ingestion.ingestor import IngestionJob, Ingestor
from fivesafes.ingestion.runner import MAX_OVERTAKES, IngestionRunner
from fivesafes.ingestion.spool import SpoolFile

LARGE = 1_000
TIMEOUT = 10


class _Leases:
    def __init__(self) -> None:
        self.ids: set[uuid.UUID] = set()

    def hold(self, upload_id: uuid.UUID) -> None:
        self.ids.add(upload_id)

    def release(self, upload_id: uuid.UUID) -> None:
        self.ids.discard(upload_id)

    def held(self) -> frozenset[uuid.UUID]:
        return frozenset(self.ids)


class FakeIngestor:
    """Jobs start (recorded in order) and block until :meth:`finish` names them."""

    def __init__(self) -> None:
        self.leases = _Leases()
        self.progress: dict[uuid.UUID, int] = {}
        self.started: list[str] = []
        self._names: dict[uuid.UUID, str] = {}
        self._gates: dict[str, threading.Event] = {}
        self._cond = threading.Condition()

    def job(self, name: str, size: int | None) -> IngestionJob:
        upload_id = uuid.uuid4()
        self._names[upload_id] = name
        self._gates[name] = threading.Event()
        source = StreamInput(f"{name}.csv", _never_opened, size)  # only its size matters
        return IngestionJob(upload_id=upload_id, source=source, trail=cast(Any, None))

    def run(self, job: IngestionJob) -> str:
        name = self._names[job.upload_id]
        with self._cond:
            self.started.append(name)
            self._cond.notify_all()
        assert self._gates[name].wait(TIMEOUT), f"{name} was never let go"
        self.leases.release(job.upload_id)
        return name

    def finish(self, name: str) -> None:
        self._gates[name].set()

    def wait_started(self, count: int) -> list[str]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.started) >= count, TIMEOUT), self.started
            return list(self.started)


def _never_opened() -> BinaryIO:
    raise AssertionError("the fake ingestor reads nothing")


@pytest.fixture
def fake() -> FakeIngestor:
    return FakeIngestor()


@contextmanager
def _runner(fake: FakeIngestor, workers: int, **kwargs: Any) -> Iterator[IngestionRunner]:
    runner = IngestionRunner(cast(Ingestor, fake), workers=workers, large_bytes=LARGE, **kwargs)
    try:
        yield runner
    finally:
        runner.shutdown()
        for gate in fake._gates.values():
            gate.set()


def test_with_two_workers_a_small_upload_overtakes_a_second_large_one(fake: FakeIngestor) -> None:
    with _runner(fake, workers=2) as runner:
        big = runner.submit(fake.job("big", 10 * LARGE))
        assert fake.wait_started(1) == ["big"]
        runner.submit(fake.job("big2", 10 * LARGE))
        small = runner.submit(fake.job("small", 10))
        # big2 may not take the last worker: that one is kept for small uploads.
        assert fake.wait_started(2) == ["big", "small"]
        fake.finish("small")
        assert small.result(TIMEOUT) == "small"
        assert not big.done()
        fake.finish("big")
        assert fake.wait_started(3) == ["big", "small", "big2"]


def test_with_one_worker_small_uploads_go_before_waiting_large_ones(fake: FakeIngestor) -> None:
    with _runner(fake, workers=1) as runner:
        runner.submit(fake.job("big", 10 * LARGE))
        assert fake.wait_started(1) == ["big"]
        runner.submit(fake.job("big2", 10 * LARGE))
        runner.submit(fake.job("small", 10))
        fake.finish("big")
        assert fake.wait_started(2) == ["big", "small"]
        fake.finish("small")
        assert fake.wait_started(3) == ["big", "small", "big2"]


def test_an_upload_of_unknown_size_counts_as_large(fake: FakeIngestor) -> None:
    with _runner(fake, workers=2) as runner:
        runner.submit(fake.job("unknown", None))
        assert fake.wait_started(1) == ["unknown"]
        runner.submit(fake.job("big", 10 * LARGE))
        runner.submit(fake.job("small", 10))
        assert fake.wait_started(2) == ["unknown", "small"]


def test_a_small_upload_that_runs_long_counts_as_heavy(fake: FakeIngestor) -> None:
    with _runner(fake, workers=2, heavy_after_seconds=0.0) as runner:
        runner.submit(fake.job("slow-small", 10))  # a decompression bomb looks small
        assert fake.wait_started(1) == ["slow-small"]
        runner.submit(fake.job("big", 10 * LARGE))
        runner.submit(fake.job("small", 10))
        assert fake.wait_started(2) == ["slow-small", "small"]
        fake.finish("small")
        threading.Event().wait(0.2)
        assert fake.started == ["slow-small", "small"]  # big still waits for a heavy slot
        fake.finish("slow-small")
        assert fake.wait_started(3)[-1] == "big"


def test_a_large_upload_is_not_starved_by_a_stream_of_small_ones(fake: FakeIngestor) -> None:
    with _runner(fake, workers=1) as runner:
        runner.submit(fake.job("first", 10))
        assert fake.wait_started(1) == ["first"]
        runner.submit(fake.job("big", 10 * LARGE))
        smalls = [f"small{n}" for n in range(MAX_OVERTAKES + 3)]
        for name in smalls:
            runner.submit(fake.job(name, 10))
        fake.finish("first")
        for n, name in enumerate(smalls[:MAX_OVERTAKES]):
            assert fake.wait_started(n + 2)[-1] == name
            fake.finish(name)
        assert fake.wait_started(MAX_OVERTAKES + 2)[-1] == "big"


def test_shutdown_cancels_queued_jobs_releases_them_and_discards_their_spools(
    fake: FakeIngestor, tmp_path: Path
) -> None:
    with _runner(fake, workers=1) as runner:
        running = runner.submit(fake.job("running", 10))
        assert fake.wait_started(1) == ["running"]
        queued_job = fake.job("queued", 10)
        spool_path = tmp_path / "queued.spool"
        spool_path.write_bytes(b"ciphertext")
        queued_job.spool = SpoolFile(spool_path, b"k" * 32)
        queued = runner.submit(queued_job)
        assert queued_job.upload_id in runner.held()
        runner.shutdown()
        assert queued.cancelled()
        assert not spool_path.exists()
        assert queued_job.upload_id not in runner.held()
        with pytest.raises(RuntimeError, match="shut down"):
            runner.submit(fake.job("late", 10))
        fake.finish("running")
        assert running.result(TIMEOUT) == "running"
        assert fake.started == ["running"]


def test_a_job_cancelled_while_queued_never_runs_and_lets_its_lease_go(
    fake: FakeIngestor,
) -> None:
    with _runner(fake, workers=1) as runner:
        runner.submit(fake.job("running", 10))
        assert fake.wait_started(1) == ["running"]
        job = fake.job("cancelled", 10)
        future = runner.submit(job)
        assert future.cancel()
        fake.finish("running")
        later = runner.submit(fake.job("later", 10))
        assert fake.wait_started(2) == ["running", "later"]
        fake.finish("later")
        assert later.result(TIMEOUT) == "later"
        assert job.upload_id not in runner.held()  # the watchdog may now fail it


def test_a_process_with_an_idle_runner_never_shut_down_still_exits() -> None:
    """Idle worker threads (not daemons) stop when the interpreter exits."""
    script = (
        "from tests.unit.ingestion.test_runner_fairness import FakeIngestor\n"
        "from fivesafes.ingestion.runner import IngestionRunner\n"
        "fake = FakeIngestor()\n"
        "runner = IngestionRunner(fake, workers=2)\n"
        "future = runner.submit(fake.job('a', 10))\n"
        "fake.finish('a')\n"
        "assert future.result(10) == 'a'\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, timeout=30, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
