"""Uploader pages: choose a dataset and upload (to the API's upload route, by script,
with a progress bar), then watch the ingestion and read the de-identification report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from fivesafes.api.routes import datasets as dataset_routes
from fivesafes.datasets import service as datasets
from fivesafes.datasets import uploads
from fivesafes.datasets.schemas import UploadOut
from fivesafes.httpkit.deps import DbSession, require_role
from fivesafes.identity.models import Role, User
from fivesafes.web import charts
from fivesafes.web.rendering import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Uploader = Annotated[User, Depends(require_role(Role.UPLOADER))]
TERMINAL = frozenset({"succeeded", "failed"})
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


def _upload_context(upload: UploadOut) -> dict[str, object]:
    report = upload.report or {}
    entities = report.get("entities") or {}
    per_type = charts.entities_per_type(entities)
    return {
        "upload": upload,
        "finished": upload.state in TERMINAL,
        "report": report,
        "entities": entities,
        "per_type": per_type,
        "chart": charts.horizontal_bars(per_type) if per_type else None,
    }


@router.get("/web/uploads/{upload_id}", name="web.upload_view")
def upload_view(
    upload_id: uuid.UUID, request: Request, session: DbSession, user: dataset_routes.UploadReaders
) -> Response:
    upload = dataset_routes.get_upload(upload_id, request, session, user)
    return render(request, "uploader/upload_view.html", _upload_context(upload))


@router.get("/web/uploads/{upload_id}/state", name="web.upload_state")
def upload_state(
    upload_id: uuid.UUID, request: Request, session: DbSession, user: dataset_routes.UploadReaders
) -> Response:
    """The part of the page that polls until the ingestion has finished."""
    upload = dataset_routes.get_upload(upload_id, request, session, user)
    return render(request, "uploader/_upload_state.html", _upload_context(upload))
