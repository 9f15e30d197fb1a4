"""Accepting an upload that arrived over HTTP: recorded ``queued``, handed to the runner.

The upload route streams the body into an encrypted spool (:mod:`.multipart_stream`,
:mod:`.spool`); from there on it is this use case's: the upload row is committed before
the job is submitted, because the runner's worker thread reads it in a session of its
own, and the spool is deleted if the upload is refused (the key dies with the request,
so a refused spool could never be read anyway).
"""

from __future__ import annotations

import uuid

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.schemas import UploadAccepted
from fivesafes.db import session_scope
from fivesafes.deid.io.types import StreamInput
from fivesafes.ingestion.ingestor import IngestionJob
from fivesafes.ingestion.multipart_stream import ReceivedFile
from fivesafes.ingestion.runner import IngestionRunner
from fivesafes.ingestion.service import create_upload


def accept_upload(
    runner: IngestionRunner,
    trail: AuditTrail,
    dataset: str,
    upload_id: uuid.UUID,
    received: ReceivedFile,
) -> UploadAccepted:
    """Queue ``received`` (spooled as ``upload_id``) for ``dataset``, or refuse it.

    Refusals (unknown dataset, file type, a duplicate) raise, and the spool is gone.
    """
    spool = received.spool
    try:
        with session_scope(runner.ingestor.session_factory) as session:
            upload = create_upload(
                session,
                trail,
                dataset,
                filename=received.filename,
                size=spool.size,
                sha256=spool.sha256 or "",
                upload_id=upload_id,  # the spool file is named after it
            )
        runner.submit(
            IngestionJob(
                upload_id=upload.id,
                source=StreamInput(received.filename, spool.open, spool.size),
                trail=trail,
                spool=spool,
            )
        )
    except BaseException:
        spool.discard()
        raise
    return UploadAccepted(
        id=upload.id,
        dataset=dataset,
        state=upload.state,
        filename=upload.filename,
        size_bytes=upload.size_bytes,
        source_sha256=upload.source_sha256,
        href=f"/uploads/{upload.id}",
    )
