"""Uploads: accepting an extract, running it through the engine, committing a version.

The one ingestion path, used by the API's background runner and by `fivesafes ingest`:

1. :func:`create_upload` records the upload (``queued``) and refuses a file whose SHA-256
   already produced a version of the dataset (409 naming that version).
2. :meth:`Ingestor.run` marks it ``running``, streams it through the de-identification
   engine (the same engine as `fivesafes deidentify`) into a new table, then creates the
   immutable dataset version and marks the upload ``succeeded``, with its audit event.
   A dataset whose policy sets ``review_sample`` gets its version ``pending_review``, with
   its sample drawn in the same transaction (:mod:`fivesafes.datasets.review`).
   On PostgreSQL all of step 2's writes are one transaction (``COPY`` included). SQLite
   allows one writer at a time, so there the rows go in in batches under short
   transactions and the version row - the only way to reach the rows - comes last;
   a failure drops the table, and :func:`recover_interrupted` drops any a crash left.
3. On any failure the upload is ``failed`` with reasons naming file, line and column, and
   nothing of the attempt is visible.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.config import DEFAULT_SPACY_MODEL
from fivesafes.datasets import review
from fivesafes.datasets.models import (
    DATA_TABLE_PREFIX,
    Dataset,
    DatasetVersion,
    Upload,
    UploadState,
)
from fivesafes.datasets.schemas import UploadOut
from fivesafes.datasets.service import current_policy_version, get_dataset, parsed_policy
from fivesafes.datasets.views import upload_view
from fivesafes.db import session_scope, utcnow
from fivesafes.deid.engine import ProgressUpdate, open_run
from fivesafes.deid.io_readers import Cell, StreamInput, input_format
from fivesafes.deid.optout import OptOutFilter
from fivesafes.deid.policy import Policy
from fivesafes.deid.report import DeidReport
from fivesafes.deid.worker import ChunkResult
from fivesafes.errors import ConflictError, FivesafesError, InputFileError, NotFoundError
from fivesafes.ingestion import storage
from fivesafes.ingestion.failures import Retry, mark_failed_with_retries
from fivesafes.ingestion.leases import LeaseKeeper
from fivesafes.ingestion.optouts import current_digests, has_list, optout_key
from fivesafes.ingestion.spool import SpoolFile, remove_orphans
from fivesafes.keys.store import KeyStore
from fivesafes.safe_logging import safe_traceback

log = logging.getLogger("fivesafes.ingestion")
INTERRUPTED = "interrupted: the server stopped before this upload finished; upload it again"
SQLITE_BATCH_ROWS = 50_000


@dataclass(slots=True)
class IngestionJob:
    """What the runner needs to ingest one upload (the spool's key lives only here)."""

    upload_id: uuid.UUID
    source: Path | StreamInput
    trail: AuditTrail
    spool: SpoolFile | None = field(default=None, repr=False)


def file_sha256(path: Path) -> str:
    """SHA-256 of an extract on disk, read in blocks (what duplicate detection keys on)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def upload_table_name(upload_id: uuid.UUID) -> str:
    return f"{DATA_TABLE_PREFIX}{upload_id.hex}"


def find_duplicate(
    session: Session, dataset: Dataset, sha256: str, asked_by: str | None = None
) -> str | None:
    """Why an extract with this SHA-256 cannot be uploaded again, or None.

    An upload in progress is named only to the user who made it (``asked_by``): its id
    would let another uploader learn of, and ask about, an upload they may not see.
    """
    version = session.scalar(
        select(DatasetVersion.number).where(
            DatasetVersion.dataset_id == dataset.id, DatasetVersion.source_sha256 == sha256
        )
    )
    if version is not None:
        return f"this file was already ingested as {dataset.name} version {version}"
    pending = session.execute(
        select(Upload.id, Upload.uploaded_by).where(
            Upload.dataset_id == dataset.id,
            Upload.source_sha256 == sha256,
            Upload.state.in_([UploadState.QUEUED.value, UploadState.RUNNING.value]),
        )
    ).first()
    if pending is None:
        return None
    if asked_by is not None and pending.uploaded_by == asked_by:
        return f"this file is already being ingested (upload {pending.id})"
    return "this file is already being ingested by another upload"


def create_upload(
    session: Session,
    trail: AuditTrail,
    dataset_name: str,
    *,
    filename: str,
    size: int,
    sha256: str,
    upload_id: uuid.UUID | None = None,
) -> Upload:
    """Record an accepted upload as queued, or refuse it (unknown dataset, type, duplicate)."""
    dataset = get_dataset(session, dataset_name)
    fmt = input_format(filename)  # InputFileError names the file and the accepted types
    current_policy_version(session, dataset)  # a dataset without a policy takes nothing
    duplicate = find_duplicate(session, dataset, sha256, trail.context.actor.id)
    if duplicate is not None:
        raise ConflictError(duplicate, code="duplicate_upload")
    upload = Upload(
        id=upload_id or uuid.uuid4(),
        dataset_id=dataset.id,
        state=UploadState.QUEUED.value,
        filename=filename,
        file_format=fmt,
        size_bytes=size,
        source_sha256=sha256,
        uploaded_by=trail.context.actor.id,
    )
    session.add(upload)
    session.flush()
    trail.record(
        session,
        "upload.create",
        target_type="upload",
        target_id=str(upload.id),
        details={"dataset": dataset.name, "format": fmt, "bytes": size, "sha256": sha256},
    )
    return upload


def get_upload(session: Session, upload_id: uuid.UUID) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise NotFoundError(f"no upload {upload_id}", code="upload_not_found")
    return upload


def error_entries(exc: BaseException) -> list[dict[str, Any]]:
    """Reasons safe to store and show: positions and codes, never cell values."""
    if isinstance(exc, InputFileError):
        return [
            {
                "code": exc.code,
                "file": exc.file,
                "line": exc.line,
                "column": exc.column,
                "message": exc.reason,
            }
        ]
    if isinstance(exc, FivesafesError):
        return [{"code": exc.code, "message": exc.message}]
    # Driver and library messages can quote the offending value: keep only the type.
    return [
        {
            "code": "internal_error",
            "message": f"ingestion failed unexpectedly ({type(exc).__name__}); "
            "the administrator can find the upload id in the server log",
        }
    ]


class Ingestor:
    """Runs ingestion jobs against one database with one key store."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        keystore: KeyStore,
        *,
        workers: int = 1,
        spacy_model: str = DEFAULT_SPACY_MODEL,
        start_method: str = "fork",
        lease_seconds: float = 300.0,
        fail_retry: Retry | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.keystore = keystore
        self.workers = workers
        self.spacy_model = spacy_model
        self.start_method = start_method
        self.progress: dict[uuid.UUID, int] = {}
        #: Heartbeats of the uploads this process holds (see ingestion.leases).
        self.leases = LeaseKeeper(session_factory, lease_seconds=lease_seconds)
        self.fail_retry = fail_retry or Retry()

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
            self._mark_running(job)
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
            return upload_view(get_upload(session, job.upload_id))

    def _mark_running(self, job: IngestionJob) -> None:
        with session_scope(self.session_factory) as session:
            upload = get_upload(session, job.upload_id)
            if upload.state != UploadState.QUEUED.value:
                raise ConflictError(f"upload {upload.id} is {upload.state}, not queued")
            upload.state = UploadState.RUNNING.value
            upload.started_at = upload.heartbeat_at = utcnow()
        self.progress[job.upload_id] = 0

    def _mark_failed(self, job: IngestionJob, exc: BaseException) -> None:
        """Record the failure through database faults (retried on fresh connections).

        If even that fails the upload is left to its lease: this process stops renewing
        it (``run`` releases it), and the watchdog fails it once the lease has expired.
        """
        try:
            mark_failed_with_retries(
                self.session_factory,
                job.upload_id,
                error_entries(exc),
                job.trail,
                table_name=upload_table_name(job.upload_id),
                retry=self.fail_retry,
            )
        except SQLAlchemyError as fault:
            log.error(
                "upload %s: its failure could not be recorded (%s); the watchdog will fail "
                "it when its lease expires",
                job.upload_id,
                type(fault).__name__,
            )

    def _optouts(self, session: Session) -> OptOutFilter | None:
        if not has_list(session):
            return None
        return OptOutFilter(optout_key(self.keystore), current_digests(session))

    def _ingest(
        self, job: IngestionJob, on_progress: Callable[[ProgressUpdate], None] | None
    ) -> None:
        def progress(update: ProgressUpdate) -> None:
            self.progress[job.upload_id] = update.rows_done
            if on_progress is not None:
                on_progress(update)

        postgres = self.engine.dialect.name == "postgresql"
        name = upload_table_name(job.upload_id)
        with self.session_factory() as session:
            upload = get_upload(session, job.upload_id)
            stored_policy = current_policy_version(session, upload.dataset)
            policy = parsed_policy(stored_policy)
            optouts = self._optouts(session)
            session.rollback()  # release SQLite's lock while the engine works
            with open_run(
                job.source,
                policy,
                keystore=self.keystore,
                workers=self.workers,
                progress=progress,
                spacy_model=self.spacy_model,
                encoding="pgcopy" if postgres else "columns",
                optouts=optouts,
                start_method=self.start_method,
            ) as run:
                needs_review = policy.review_sample is not None
                table = storage.data_table(
                    name,
                    run.outputs,
                    row_ids=needs_review,
                    schema=storage.version_schema(self.engine.dialect.name),
                )
                if postgres:
                    connection = session.connection()
                    storage.create_table(connection, table)
                    storage.copy_chunks_postgres(
                        connection, table, (r.payload or b"" for r in run.results())
                    )
                else:
                    self._load_sqlite(table, [c.kind for c in run.outputs], run.results())
                report = run.report
            try:
                self._commit_version(
                    session,
                    job,
                    upload_id=upload.id,
                    policy_version_id=stored_policy.id,
                    table_name=name,
                    report=report,
                    policy=policy,
                )
            except IntegrityError:
                session.rollback()
                raise ConflictError(
                    "another upload of the same file or version number committed first",
                    code="duplicate_upload",
                ) from None

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

    def _commit_version(
        self,
        session: Session,
        job: IngestionJob,
        *,
        upload_id: uuid.UUID,
        policy_version_id: int,
        table_name: str,
        report: DeidReport,
        policy: Policy,
    ) -> None:
        # Locked, and re-read: the watchdog may have failed it while it ran (lease lost).
        upload = session.get(Upload, upload_id, with_for_update=True, populate_existing=True)
        if upload is None or upload.state != UploadState.RUNNING.value:
            raise ConflictError(
                f"upload {upload_id} was marked failed while it ran (its lease expired); "
                "nothing of it was kept",
                code="lease_expired",
            )
        sha256 = upload.source_sha256 or report.input_sha256
        if sha256 is None:  # pragma: no cover - every source hashes what it read
            raise RuntimeError("no SHA-256 for the extract")
        duplicate = session.scalar(
            select(DatasetVersion.number).where(
                DatasetVersion.dataset_id == upload.dataset_id,
                DatasetVersion.source_sha256 == sha256,
            )
        )
        if duplicate is not None:
            raise ConflictError(
                f"this file was already ingested as {upload.dataset.name} version {duplicate}",
                code="duplicate_upload",
            )
        number = (
            session.scalar(
                select(func.max(DatasetVersion.number)).where(
                    DatasetVersion.dataset_id == upload.dataset_id
                )
            )
            or 0
        ) + 1
        version = DatasetVersion(
            dataset_id=upload.dataset_id,
            number=number,
            policy_version_id=policy_version_id,
            source_sha256=sha256,
            row_count=report.rows_out,
            table_name=table_name,
            report=report.to_json(),
            uploaded_by=upload.uploaded_by,
        )
        session.add(version)
        session.flush()
        upload.state = UploadState.SUCCEEDED.value
        upload.finished_at = utcnow()
        upload.rows_processed = report.rows_in
        upload.report = version.report
        upload.dataset_version_id = version.id
        upload.source_sha256 = sha256
        job.trail.record(
            session,
            "dataset_version.create",
            target_type="dataset_version",
            target_id=f"{upload.dataset.name}/{number}",
            details={
                "upload_id": str(upload.id),
                "rows_in": report.rows_in,
                "rows_out": report.rows_out,
                "rows_rejected": report.rows_rejected,
                "opted_out_excluded": report.opted_out_excluded,
                "policy_sha256": report.policy_hash,
                "source_sha256": sha256,
            },
        )
        if policy.review_sample is not None:
            review.open_review(session, job.trail, version, policy)
        session.commit()


def recover_interrupted(session_factory: sessionmaker[Session], spool_dir: Path) -> int:
    """At start-up: fail uploads a dead process left queued or running; drop their tables.

    Their spool keys died with the process, so they can never finish: the uploader is told
    to upload again. Returns how many uploads were marked failed.
    """
    failed = 0
    with session_scope(session_factory) as session:
        stuck = list(
            session.scalars(
                select(Upload).where(
                    Upload.state.in_([UploadState.QUEUED.value, UploadState.RUNNING.value])
                )
            )
        )
        for upload in stuck:
            upload.state = UploadState.FAILED.value
            upload.finished_at = utcnow()
            upload.errors = json.dumps([{"code": "interrupted", "message": INTERRUPTED}])
            AuditTrail.for_operator().record(
                session,
                "upload.fail",
                outcome="failed",
                target_type="upload",
                target_id=str(upload.id),
                details={"errors": [{"code": "interrupted"}]},
            )
            failed += 1
        referenced = set(session.scalars(select(DatasetVersion.table_name)))
    engine = session_factory.kw["bind"]
    names = [n for n in storage.version_table_names(engine) if n not in referenced]
    if names:
        with engine.begin() as connection:
            for name in names:
                storage.drop_table(connection, name)
    remove_orphans(spool_dir)
    return failed
