"""Uploads: recording an extract, marking it running, recording the version it became.

Services of the one ingestion path, shared by the API's background runner and by
`fivesafes ingest` (through :mod:`fivesafes.ingestion.local_file`):

1. :func:`create_upload` records the upload (``queued``) and refuses a file whose SHA-256
   already produced a version of the dataset (409 naming that version).
2. :func:`mark_running`, then the engine's run (:class:`~fivesafes.ingestion.ingestor.
   Ingestor`), then :func:`record_version`: the immutable dataset version, the upload
   ``succeeded``, its audit event and, when the policy sets ``review_sample``, the
   version ``pending_review`` with its sample (:mod:`fivesafes.datasets.review`).
3. On any failure the upload is ``failed`` (:mod:`fivesafes.ingestion.failures`) with
   reasons naming file, line and column (:func:`error_entries`), never a value.

Everything here flushes and nothing commits: the caller owns the transaction (the
ingestor, the upload route's :func:`~fivesafes.ingestion.accept.accept_upload`), because
on PostgreSQL the version must commit together with the rows it points at.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets import review
from fivesafes.datasets.models import (
    DATA_TABLE_PREFIX,
    Dataset,
    DatasetPolicyVersion,
    DatasetVersion,
    Upload,
    UploadState,
)
from fivesafes.datasets.service import current_policy_version, get_dataset
from fivesafes.db import utcnow
from fivesafes.deid.io.sources import input_format
from fivesafes.deid.policy import Policy
from fivesafes.deid.report import DeidReport
from fivesafes.errors import ConflictError, FivesafesError, InputFileError, NotFoundError
from fivesafes.ingestion.leases import UNFINISHED


def file_sha256(path: Path) -> str:
    """SHA-256 of an extract on disk, read in blocks (what duplicate detection keys on)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def upload_table_name(upload_id: uuid.UUID) -> str:
    return f"{DATA_TABLE_PREFIX}{upload_id.hex}"


def _ingested_as(session: Session, dataset: Dataset, sha256: str) -> str | None:
    """Which version of ``dataset`` this extract already became, said as a refusal."""
    number = session.scalar(
        select(DatasetVersion.number).where(
            DatasetVersion.dataset_id == dataset.id, DatasetVersion.source_sha256 == sha256
        )
    )
    if number is None:
        return None
    return f"this file was already ingested as {dataset.name} version {number}"


def find_duplicate(
    session: Session, dataset: Dataset, sha256: str, asked_by: str | None = None
) -> str | None:
    """Why an extract with this SHA-256 cannot be uploaded again, or None.

    An upload in progress is named only to the user who made it (``asked_by``): its id
    would let another uploader learn of, and ask about, an upload they may not see.
    """
    ingested = _ingested_as(session, dataset, sha256)
    if ingested is not None:
        return ingested
    pending = session.execute(
        select(Upload.id, Upload.uploaded_by).where(
            Upload.dataset_id == dataset.id,
            Upload.source_sha256 == sha256,
            Upload.state.in_(UNFINISHED),
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
        state=UploadState.QUEUED,
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


def mark_running(session: Session, upload_id: uuid.UUID) -> None:
    """A queued upload starts: ``running`` from now (an upload runs once, so not twice)."""
    upload = get_upload(session, upload_id)
    if upload.state != UploadState.QUEUED:
        raise ConflictError(f"upload {upload.id} is {upload.state}, not queued")
    upload.state = UploadState.RUNNING
    upload.started_at = upload.heartbeat_at = utcnow()
    session.flush()


def record_version(
    session: Session,
    trail: AuditTrail,
    upload_id: uuid.UUID,
    *,
    stored_policy: DatasetPolicyVersion,
    policy: Policy,
    report: DeidReport,
) -> DatasetVersion:
    """The rows of a finished run are loaded: the next version, and the upload succeeded.

    Flushed, not committed: on PostgreSQL the caller commits it with the rows themselves.
    A dataset whose policy asks for a review gets its version ``pending_review`` and its
    sample in the same transaction (:mod:`fivesafes.datasets.review`).
    """
    # Locked, and re-read: the watchdog may have failed it while it ran (lease lost).
    upload = session.get(Upload, upload_id, with_for_update=True, populate_existing=True)
    if upload is None or upload.state != UploadState.RUNNING:
        raise ConflictError(
            f"upload {upload_id} was marked failed while it ran (its lease expired); "
            "nothing of it was kept",
            code="lease_expired",
        )
    sha256 = upload.source_sha256 or report.input_sha256
    if sha256 is None:  # pragma: no cover - every source hashes what it read
        raise RuntimeError("no SHA-256 for the extract")
    duplicate = _ingested_as(session, upload.dataset, sha256)
    if duplicate is not None:
        raise ConflictError(duplicate, code="duplicate_upload")
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
        policy_version_id=stored_policy.id,
        source_sha256=sha256,
        row_count=report.rows_out,
        table_name=upload_table_name(upload_id),
        report=report.to_json(),
        uploaded_by=upload.uploaded_by,
    )
    session.add(version)
    session.flush()
    upload.state = UploadState.SUCCEEDED
    upload.finished_at = utcnow()
    upload.rows_processed = report.rows_in
    upload.report = version.report
    upload.dataset_version_id = version.id
    upload.source_sha256 = sha256
    trail.record(
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
        review.open_review(session, trail, version, policy)
    session.flush()
    return version
