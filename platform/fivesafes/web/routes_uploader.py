"""Uploader pages: choose a dataset and upload (to the API's upload route, by script,
with a progress bar), then watch the ingestion and read the de-identification report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from fivesafes.datasets import service as datasets
from fivesafes.datasets import uploads
from fivesafes.datasets.models import UploadState
from fivesafes.datasets.schemas import UploadOut
from fivesafes.httpkit.deps import DbSession, require_role
from fivesafes.identity.models import Role, User
from fivesafes.ingestion.status import upload_status
from fivesafes.web import charts
from fivesafes.web.rendering import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Uploader = Annotated[User, Depends(require_role(Role.UPLOADER))]
UploadReader = Annotated[User, Depends(require_role(*uploads.READERS))]
ACCEPTED_TYPES = ".csv,.xlsx,.parquet,.jsonl,.ndjson"


@router.get("/web/upload", name="web.upload")
def upload_page(request: Request, session: DbSession, user: Uploader) -> Response:
    names = [d.name for d in datasets.list_datasets(session)]
    recent = uploads.visible_uploads(session, user, limit=10)  # their own, nobody else's
    return render(
        request,
        "uploader/upload.html",
        {"datasets": names, "recent": recent, "accept": ACCEPTED_TYPES},
    )


def _render_upload(
    request: Request, session: Session, user: User, upload_id: uuid.UUID, template: str
) -> Response:
    """An upload's page (or its polled part) for a reader who may see it; else 404."""
    upload = upload_status(session, user, upload_id, request.app.state.ingestion_runner)
    return render(request, template, _upload_context(upload))


def _upload_context(upload: UploadOut) -> dict[str, object]:
    report = upload.report or {}
    entities = report.get("entities") or {}
    per_type = charts.entities_per_type(entities)
    return {
        "upload": upload,
        "finished": UploadState(upload.state).finished,
        "report": report,
        "entities": entities,
        "per_type": per_type,
        "chart": charts.horizontal_bars(per_type) if per_type else None,
    }


@router.get("/web/uploads/{upload_id}", name="web.upload_view")
def upload_view(
    upload_id: uuid.UUID, request: Request, session: DbSession, user: UploadReader
) -> Response:
    return _render_upload(request, session, user, upload_id, "uploader/upload_view.html")


@router.get("/web/uploads/{upload_id}/state", name="web.upload_state")
def upload_state(
    upload_id: uuid.UUID, request: Request, session: DbSession, user: UploadReader
) -> Response:
    """The part of the page that polls until the ingestion has finished."""
    return _render_upload(request, session, user, upload_id, "uploader/_upload_state.html")
