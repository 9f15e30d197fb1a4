"""What a reader of an upload is shown: its stored row, with the live row count.

A running upload's progress is kept in the memory of the process running it (writing it
per chunk would cost a transaction per chunk), so the view of an upload asks the runner;
the API and the upload pages both show it through here, to the same readers
(:mod:`fivesafes.datasets.uploads`).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from fivesafes.datasets import uploads
from fivesafes.datasets.schemas import UploadOut
from fivesafes.datasets.views import upload_view
from fivesafes.identity.models import User
from fivesafes.ingestion.runner import IngestionRunner


def upload_status(
    session: Session, user: User, upload_id: uuid.UUID, runner: IngestionRunner
) -> UploadOut:
    """One upload ``user`` may see (else the 404 of an unknown id), with its progress."""
    upload = uploads.visible_upload(session, user, upload_id)
    return upload_view(upload, runner.rows_processed(upload))


def upload_statuses(
    session: Session, user: User, runner: IngestionRunner, *, limit: int
) -> list[UploadOut]:
    """The newest ``limit`` uploads ``user`` may see, newest first, with their progress."""
    found = uploads.visible_uploads(session, user, limit=limit)
    return [upload_view(u, runner.rows_processed(u)) for u in found]
