"""Uploader pages: choose a dataset and upload (to the API's upload route, by script,
with a progress bar), then watch the ingestion and read the de-identification report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from fivesafes.datasets import service as datasets
from fivesafes.datasets import uploads
from fivesafes.datasets.models import UploadState
from fivesafes.datasets.schemas import UploadOut
from fivesafes.db import utcnow
from fivesafes.errors import ConflictError
from fivesafes.httpkit.deps import DbSession, Trail, require_role
from fivesafes.identity.models import Role, User
from fivesafes.ingestion.status import upload_status
from fivesafes.release import withdrawal
from fivesafes.web import charts
from fivesafes.web.rendering import WebRoute, render
from fivesafes.web.withdraw_form import withdraw_from_form

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
    request: Request,
    session: Session,
    user: User,
    upload_id: uuid.UUID,
    template: str,
    *,
    withdraw_errors: list[str] | None = None,
    withdraw_reason: str = "",
    status: int = 200,
) -> Response:
    """An upload's page (or its polled part) for a reader who may see it; else 404."""
    upload = upload_status(session, user, upload_id, request.app.state.ingestion_runner)
    context = _upload_context(upload)
    offered = upload.dataset_version is not None and withdrawal.may_withdraw(
        session,
        request.app.state.access_policy,
        user,
        upload.dataset,
        upload.dataset_version,
        utcnow(),
    )
    context.update(
        version_label=f"{upload.dataset} version {upload.dataset_version}",
        withdrawal={
            "state": upload.dataset_version_state,
            "withdrawn_at": upload.dataset_version_withdrawn_at,
            "withdrawal_reason": upload.dataset_version_withdrawal_reason,
            "purged_at": upload.dataset_version_purged_at,
        },
        withdraw_action=f"/web/uploads/{upload.id}/withdraw" if offered else None,
        withdraw_errors=withdraw_errors or [],
        withdraw_reason=withdraw_reason,
    )
    return render(request, template, context, status)


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


@router.post("/web/uploads/{upload_id}/withdraw", name="web.upload_withdraw")
def upload_withdraw(
    *,
    upload_id: uuid.UUID,
    request: Request,
    session: DbSession,
    trail: Trail,
    user: UploadReader,
    reason: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Withdraw the version this upload made: its uploader before any release, or
    governance; a missing reason or a version already withdrawn is shown on the page."""
    upload = upload_status(session, user, upload_id, request.app.state.ingestion_runner)
    if upload.dataset_version is None:
        raise ConflictError(
            f"upload {upload_id} made no dataset version: there is nothing to withdraw",
            code="upload_has_no_version",
        )

    def show_again(errors: list[str], typed: str, status: int) -> Response:
        return _render_upload(
            request,
            session,
            user,
            upload_id,
            "uploader/upload_view.html",
            withdraw_errors=errors,
            withdraw_reason=typed,
            status=status,
        )

    version = (upload.dataset, upload.dataset_version)
    done = f"/web/uploads/{upload_id}"
    return withdraw_from_form(
        request, session, trail, user, version, reason, done=done, show_again=show_again
    )
