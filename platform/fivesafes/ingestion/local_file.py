"""An extract on this machine's disk, ingested to the end in this process.

What `fivesafes ingest`, the demo, the benchmarks and the tests do where the API has its
upload route: the same :func:`~fivesafes.ingestion.service.create_upload` (a duplicate is
refused with 409, the upload is audited) and the same :meth:`Ingestor.run`, so a version
ingested from the shell cannot differ from one uploaded. Having one function for it keeps
those callers from wiring the steps together each in their own way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.schemas import UploadOut
from fivesafes.db import session_scope
from fivesafes.deid.engine import ProgressUpdate
from fivesafes.errors import InputFileError
from fivesafes.ingestion.ingestor import IngestionJob, Ingestor
from fivesafes.ingestion.service import create_upload, file_sha256


def ingest_file(
    ingestor: Ingestor,
    trail: AuditTrail,
    dataset: str,
    path: Path,
    on_progress: Callable[[ProgressUpdate], None] | None = None,
) -> UploadOut:
    """Upload ``path`` to ``dataset`` as ``trail``'s actor and ingest it; the upload's view.

    Refusals before the run (unknown dataset, file type, duplicate) raise; a failed run
    does not (the view is ``failed`` and says why), as for an upload through the API.
    """
    if not path.is_file():
        raise InputFileError("input file not found", file=str(path))
    with session_scope(ingestor.session_factory) as session:
        upload = create_upload(
            session,
            trail,
            dataset,
            filename=path.name,
            size=path.stat().st_size,
            sha256=file_sha256(path),
        )
    return ingestor.run(IngestionJob(upload_id=upload.id, source=path, trail=trail), on_progress)
