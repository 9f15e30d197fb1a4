"""Running one upload to the end: the ingestion path's unit of work, and its transactions.

:mod:`fivesafes.ingestion.service` only flushes; this is its caller, and so it decides
where each transaction ends (each one a :func:`~fivesafes.db.session_scope`). ``running``
is committed before the engine starts, so other sessions (the upload's page, the
watchdog) see the upload under way while it runs; its row count lives in memory meanwhile
(:attr:`Ingestor.progress`). On PostgreSQL the data table, its rows, the version and the
upload's ``succeeded`` are one transaction; on SQLite the rows go in in short batches
(one writer at a time) and the version row - the only way to reach them - commits last.
A failure is recorded on fresh connections (:mod:`fivesafes.ingestion.failures`), which
also drop the attempt's table.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.config import DEFAULT_SPACY_MODEL, Settings
from fivesafes.datasets import version_tables
from fivesafes.datasets.schemas import UploadOut
from fivesafes.datasets.service import current_policy_version, parsed_policy
from fivesafes.datasets.views import upload_view
from fivesafes.db import session_scope
from fivesafes.deid.engine import ProgressUpdate, RunOptions, open_run
from fivesafes.deid.io.types import Cell, StreamInput
from fivesafes.deid.optout import OptOutFilter
from fivesafes.deid.worker import ChunkResult
from fivesafes.errors import ConflictError, FivesafesError
from fivesafes.ingestion import service, storage
from fivesafes.ingestion.failures import Retry, mark_failed_with_retries
from fivesafes.ingestion.leases import LeaseKeeper
from fivesafes.ingestion.optouts import current_filter
from fivesafes.ingestion.reid_capture import PatientCapture
from fivesafes.ingestion.spool import SpoolFile
from fivesafes.keys.store import KeyStore
from fivesafes.safe_logging import safe_traceback

log = logging.getLogger("fivesafes.ingestion")
SQLITE_BATCH_ROWS = 50_000


@dataclass(slots=True)
class IngestionJob:
    """What the runner needs to ingest one upload (the spool's key lives only here)."""

    upload_id: uuid.UUID
    source: Path | StreamInput
    trail: AuditTrail
    spool: SpoolFile | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class IngestorOptions:
    """How an :class:`Ingestor` runs its jobs: the engine's processes and the lease.

    ``start_method`` is ``forkserver`` in the multi-threaded server (forking a process
    with threads is unsafe; the fork server is a fresh process that forks the workers) and
    ``fork`` elsewhere. ``lease_seconds`` must be
    the server's own setting wherever the upload runs, since its watchdog judges every
    upload by it.
    """

    workers: int = 1
    spacy_model: str = DEFAULT_SPACY_MODEL
    start_method: str = "fork"
    lease_seconds: float = 300.0
    fail_retry: Retry = field(default_factory=Retry)
    #: Rows per engine chunk (None: the engine's default); progress moves a chunk at a time.
    chunk_rows: int | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, workers: int | None = None, start_method: str = "fork"
    ) -> IngestorOptions:
        """The options a deployment's settings give (``workers`` overrides its own)."""
        return cls(
            workers=workers or settings.deid_workers,
            spacy_model=settings.spacy_model,
            start_method=start_method,
            lease_seconds=settings.ingest_lease_seconds,
        )


class Ingestor:
    """Runs ingestion jobs against one database with one key store."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        keystore: KeyStore,
        options: IngestorOptions | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.keystore = keystore
        self.options = options or IngestorOptions()
        self.progress: dict[uuid.UUID, int] = {}
        #: Heartbeats of the uploads this process holds (see ingestion.leases).
        self.leases = LeaseKeeper(session_factory, lease_seconds=self.options.lease_seconds)

    def close(self) -> None:
        """Stop renewing leases (uploads still held then expire, and the watchdog fails them)."""
        self.leases.stop()

    @property
    def engine(self) -> Engine:
        bind = self.session_factory.kw["bind"]
        assert isinstance(bind, Engine)
        return bind

    def run(
        self, job: IngestionJob, on_progress: Callable[[ProgressUpdate], None] | None = None
    ) -> UploadOut:
        """Ingest one upload to the end; never raises for bad input (the upload says why)."""
        self.leases.hold(job.upload_id)
        try:
            with session_scope(self.session_factory) as session:
                service.mark_running(session, job.upload_id)
            self.progress[job.upload_id] = 0
            self._ingest(job, on_progress)
        except BaseException as exc:
            if not isinstance(exc, FivesafesError):
                # Type and frames only: a library's message may quote a cell's value.
                log.error("upload %s failed unexpectedly:\n%s", job.upload_id, safe_traceback(exc))
            self._mark_failed(job, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            # Finished, or failed and so marked, or abandoned: either way no longer ours.
            self.leases.release(job.upload_id)
            self.progress.pop(job.upload_id, None)
            if job.spool is not None:
                job.spool.discard()
        with self.session_factory() as session:
            return upload_view(service.get_upload(session, job.upload_id))

    def _mark_failed(self, job: IngestionJob, exc: BaseException) -> None:
        """Record the failure through database faults (retried on fresh connections).

        If even that fails the upload is left to its lease: this process stops renewing
        it (``run`` releases it), and the watchdog fails it once the lease has expired.
        """
        try:
            mark_failed_with_retries(
                self.session_factory,
                job.upload_id,
                service.error_entries(exc),
                job.trail,
                table_name=service.upload_table_name(job.upload_id),
                retry=self.options.fail_retry,
            )
        except SQLAlchemyError as fault:
            log.error(
                "upload %s: its failure could not be recorded (%s); the watchdog will fail "
                "it when its lease expires",
                job.upload_id,
                type(fault).__name__,
            )

    def _optouts(self, session: Session) -> OptOutFilter | None:
        return current_filter(session, self.keystore)

    def _ingest(
        self, job: IngestionJob, on_progress: Callable[[ProgressUpdate], None] | None
    ) -> None:
        def progress(update: ProgressUpdate) -> None:
            self.progress[job.upload_id] = update.rows_done
            if on_progress is not None:
                on_progress(update)

        postgres = self.engine.dialect.name == "postgresql"
        name = service.upload_table_name(job.upload_id)
        options = self.options
        # One transaction (db.session_scope commits it): on PostgreSQL the table, its rows
        # and the version; on SQLite the rows went in before, in their own batches.
        with session_scope(self.session_factory) as session:
            upload = service.get_upload(session, job.upload_id)
            stored_policy = current_policy_version(session, upload.dataset)
            policy = parsed_policy(stored_policy)
            optouts = self._optouts(session)
            # None unless the policy allows re-identification: then nothing extra is done.
            capture = PatientCapture.for_policy(policy, self.keystore, upload.dataset_id)
            session.rollback()  # release SQLite's lock while the engine works
            with open_run(
                job.source,
                policy,
                keystore=self.keystore,
                options=RunOptions(
                    workers=options.workers,
                    progress=progress,
                    spacy_model=options.spacy_model,
                    encoding="pgcopy" if postgres else "columns",
                    optouts=optouts,
                    start_method=options.start_method,
                    capture_patients=capture is not None,
                    chunk_rows=options.chunk_rows,
                ),
            ) as run:
                needs_review = policy.review_sample is not None
                table = storage.data_table(
                    name,
                    run.outputs,
                    row_ids=needs_review,
                    schema=version_tables.version_schema(self.engine.dialect.name),
                )
                results = run.results()
                if capture is not None:
                    results = capture.tap(results, run.plan.pseudonym_generation)
                if postgres:
                    connection = session.connection()
                    storage.create_table(connection, table)
                    # Rows only: the sealed numbers go in by INSERT below, never by COPY.
                    storage.copy_chunks_postgres(
                        connection, table, (r.payload or b"" for r in results)
                    )
                else:
                    self._load_sqlite(table, [c.kind for c in run.outputs], results)
                report = run.report
            try:
                version = service.record_version(
                    session,
                    job.trail,
                    upload.id,
                    stored_policy=stored_policy,
                    policy=policy,
                    report=report,
                )
                # The generation the engine made every pseudonym at (a rotation that added
                # a key meanwhile finds this version lagging and re-maps it).
                version.pseudonym_generation = run.plan.pseudonym_generation
                session.flush()
            except IntegrityError:  # rolled back by the scope, with the rows
                raise ConflictError(
                    "another upload of the same file or version number committed first",
                    code="duplicate_upload",
                ) from None
            if capture is not None:  # the version's transaction: no version, no records
                added = capture.store(session, version)
                log.info("upload %s: %d new re-identification record(s)", job.upload_id, added)

    def _load_sqlite(self, table: Table, kinds: list[str], results: Iterator[ChunkResult]) -> None:
        with self.engine.begin() as connection:
            storage.create_table(connection, table)
        batch: list[list[Sequence[Cell]]] = []
        rows = 0
        for result in results:
            assert result.columns is not None
            batch.append(result.columns)
            rows += len(result.columns[0]) if result.columns else 0
            if rows >= SQLITE_BATCH_ROWS:
                self._insert_sqlite(table, kinds, batch)
                batch, rows = [], 0
        self._insert_sqlite(table, kinds, batch)

    def _insert_sqlite(
        self, table: Table, kinds: list[str], batch: list[list[Sequence[Cell]]]
    ) -> None:
        if not batch:
            return
        with self.engine.begin() as connection:
            for columns in batch:
                storage.insert_columns_sqlite(connection, table, kinds, columns)
