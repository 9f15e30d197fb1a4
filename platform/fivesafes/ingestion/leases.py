"""Leases on unfinished uploads: a live process renews the heartbeat of what it holds.

An upload is ``queued`` or ``running`` only while some process can still finish it: its
spool key lives in that process's memory. The process proves it is alive by renewing
``uploads.heartbeat_at`` for every upload it holds, every quarter of the lease. When the
process dies, hangs in a way that stops this thread, or gives up on an upload whose
failure it could not record (the database was down), the heartbeat stops; once it is
older than the lease, the watchdog (:mod:`fivesafes.ingestion.watchdog`) fails the upload
so that its file may be uploaded again.
"""

from __future__ import annotations

import logging
import threading
import uuid

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.datasets.models import Upload, UploadState
from fivesafes.db import session_scope, utcnow

log = logging.getLogger("fivesafes.ingestion")

#: States in which an upload still waits for a worker to finish it.
UNFINISHED = (UploadState.QUEUED, UploadState.RUNNING)
#: The heartbeat is renewed this many times per lease, so one or two missed beats (a
#: busy SQLite writer, a slow network) never let a live upload's lease expire.
BEATS_PER_LEASE = 4


class LeaseKeeper:
    """Renews the heartbeat of every upload this process holds, from one daemon thread.

    The thread starts with the first :meth:`hold` and stops at :meth:`stop`; it only ever
    writes timestamps, so it is a daemon and never delays the process's exit.
    """

    def __init__(self, session_factory: sessionmaker[Session], *, lease_seconds: float) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.session_factory = session_factory
        self.lease_seconds = lease_seconds
        self.interval = lease_seconds / BEATS_PER_LEASE
        self._held: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, upload_id: uuid.UUID) -> None:
        """This process now answers for the upload: keep its lease alive."""
        with self._lock:
            self._held.add(upload_id)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._beat_forever, name="fivesafes-ingest-lease", daemon=True
                )
                self._thread.start()

    def release(self, upload_id: uuid.UUID) -> None:
        """The upload is finished, or abandoned: let its lease run out."""
        with self._lock:
            self._held.discard(upload_id)

    def held(self) -> frozenset[uuid.UUID]:
        with self._lock:
            return frozenset(self._held)

    def beat(self) -> int:
        """Renew the heartbeat of every held upload still unfinished; how many were renewed."""
        held = self.held()
        if not held:
            return 0
        with session_scope(self.session_factory) as session:
            result = session.execute(
                update(Upload)
                .where(Upload.id.in_(held), Upload.state.in_(UNFINISHED))
                .values(heartbeat_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def _beat_forever(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except SQLAlchemyError as exc:
                # Keep trying: a beat missed while the database is down is made up by the
                # next one; only a lease missed for its whole length lets an upload go.
                log.warning("upload heartbeat failed (%s); retrying", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
