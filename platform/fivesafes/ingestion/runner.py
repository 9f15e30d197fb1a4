"""The background worker pool of the API server: uploads are ingested off the request.

Accepted uploads wait in state ``queued`` for one of ``workers`` threads (each job also
uses the engine's worker processes). One worker at a time used to mean that one large
or slow extract stalled every upload behind it, so the queue is fair by size:

- uploads smaller than ``large_bytes`` go before larger ones that have not started;
- heavy jobs - large, or running for longer than ``heavy_after_seconds`` (a small file
  can still be slow) - may occupy at most ``workers - 1`` workers, so with two or more
  workers one is always free for small uploads;
- a large upload overtaken by :data:`MAX_OVERTAKES` small ones goes next when it may, so
  a stream of small uploads cannot starve it.

With ``workers=1`` there is nothing to reserve: small uploads still go first, but wait
for a running large one to end.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from fivesafes.datasets.models import Upload
from fivesafes.datasets.schemas import UploadOut
from fivesafes.ingestion.ingestor import IngestionJob, Ingestor
from fivesafes.safe_logging import safe_traceback

log = logging.getLogger("fivesafes.ingestion")

#: Small uploads that may go before a waiting large one before it has its turn.
MAX_OVERTAKES = 8
DEFAULT_LARGE_BYTES = 64 * 1024**2
#: How often an idle worker looks up to see whether the interpreter is exiting.
IDLE_CHECK_SECONDS = 0.5


def job_size(job: IngestionJob) -> int | None:
    """Bytes of the extract, if known (an unknown size counts as large)."""
    source = job.source
    if isinstance(source, Path):
        try:
            return source.stat().st_size
        except OSError:
            return None
    return source.size


@dataclass(slots=True)
class _Entry:
    job: IngestionJob
    large: bool
    seq: int
    future: Future[UploadOut] = field(default_factory=Future)
    started: float | None = None
    overtaken: int = 0


class IngestionRunner:
    """Runs ingestion jobs on ``workers`` threads, picking the next job fairly by size."""

    def __init__(
        self,
        ingestor: Ingestor,
        *,
        workers: int = 2,
        large_bytes: int = DEFAULT_LARGE_BYTES,
        heavy_after_seconds: float = 30.0,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.ingestor = ingestor
        self.workers = workers
        self.large_bytes = large_bytes
        self.heavy_after_seconds = heavy_after_seconds
        self._heavy_slots = max(1, workers - 1)
        self._cond = threading.Condition()
        self._queue: list[_Entry] = []
        self._running: list[_Entry] = []
        self._seq = itertools.count()
        self._closed = False
        self._threads: list[threading.Thread] = []  # started with the first job

    def _start_workers(self) -> None:
        """Start the worker threads (called with the lock held, on the first submit).

        Not daemons: at interpreter exit a running job finishes first (as with the thread
        pool this replaces); idle workers notice the exit and stop (:meth:`_exiting`).
        """
        while len(self._threads) < self.workers:
            thread = threading.Thread(
                target=self._work, name=f"fivesafes-ingest-{len(self._threads)}"
            )
            self._threads.append(thread)
            thread.start()

    def submit(self, job: IngestionJob) -> Future[UploadOut]:
        size = job_size(job)
        entry = _Entry(job, large=size is None or size >= self.large_bytes, seq=next(self._seq))
        with self._cond:
            if self._closed:
                raise RuntimeError("the ingestion runner has shut down")
            # From now on this process answers for the upload: keep its lease alive.
            self.ingestor.leases.hold(job.upload_id)
            self._queue.append(entry)
            self._start_workers()
            self._cond.notify()
        return entry.future

    def rows_processed(self, upload: Upload) -> int:
        """Live progress of a running upload (kept in memory, not written per chunk)."""
        return self.ingestor.progress.get(upload.id, upload.rows_processed)

    def held(self) -> frozenset[uuid.UUID]:
        """Uploads this process holds, queued or running (the watchdog leaves them)."""
        return self.ingestor.leases.held()

    def _heavy_running(self, now: float) -> int:
        return sum(
            1
            for e in self._running
            if e.large or (e.started is not None and now - e.started >= self.heavy_after_seconds)
        )

    def _pick(self) -> _Entry | None:
        """The next entry to start (called with the lock held), or None to wait."""
        heavy_ok = self._heavy_running(time.monotonic()) < self._heavy_slots
        first_small = next((e for e in self._queue if not e.large), None)
        first_large = next((e for e in self._queue if e.large), None) if heavy_ok else None
        if first_large is not None and (
            first_small is None or first_large.overtaken >= MAX_OVERTAKES
        ):
            chosen = first_large
        elif first_small is not None:
            chosen = first_small
            for waiting in self._queue:
                if waiting.large and waiting.seq < chosen.seq and heavy_ok:
                    waiting.overtaken += 1
        else:
            return None
        self._queue.remove(chosen)
        return chosen

    def _exiting(self) -> bool:
        """True once the runner is shut down or the interpreter is exiting (its main
        thread has ended: it would otherwise wait for idle workers for ever)."""
        return self._closed or not threading.main_thread().is_alive()

    def _work(self) -> None:
        while True:
            with self._cond:
                entry = None
                while not self._exiting() and (entry := self._pick()) is None:
                    self._cond.wait(timeout=IDLE_CHECK_SECONDS)
                if entry is None:
                    return
                entry.started = time.monotonic()
                self._running.append(entry)
            try:
                if entry.future.set_running_or_notify_cancel():
                    self._run(entry)
                else:
                    self._abandon(entry)  # its caller cancelled it while it waited
            finally:
                with self._cond:
                    self._running.remove(entry)
                    self._cond.notify_all()  # a heavy slot may be free for someone

    def _run(self, entry: _Entry) -> None:
        try:
            entry.future.set_result(self.ingestor.run(entry.job))
        except BaseException as exc:
            # Bad input never gets here (run records it on the upload); this is a fault
            # such as the database being unreachable even for the final read.
            log.error(
                "ingestion job %s ended with an error:\n%s",
                entry.job.upload_id,
                safe_traceback(exc),
            )
            entry.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    def _abandon(self, entry: _Entry) -> None:
        """A job that will never run: let its lease go (the watchdog then fails the upload)
        and delete its spool, unreadable without the key that goes with the job."""
        self.ingestor.leases.release(entry.job.upload_id)
        if entry.job.spool is not None:
            entry.job.spool.discard()

    def shutdown(self) -> None:
        """Stop taking jobs; does not wait for running ones.

        Queued jobs never start: their spools (unreadable without the in-memory key) go
        now, and the next start's recovery fails them. A running job finishes before the
        interpreter exits; a killed process abandons it, and recovery fails it likewise.
        """
        with self._cond:
            self._closed = True
            queued, self._queue = self._queue, []
            self._cond.notify_all()
        for entry in queued:
            entry.future.cancel()
            self._abandon(entry)
