"""Datasets and uploads: trust staff send extracts in; anyone signed in may see what
datasets exist, but an upload only its uploader and governance (datasets/uploads.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from fivesafes.access.policy import Action
from fivesafes.audit.recorder import AuditRecorder
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.datasets import modification_log, service, views
from fivesafes.datasets.modification_log import ModificationLog
from fivesafes.datasets.schemas import DatasetOut, UploadAccepted, UploadOut
from fivesafes.datasets.uploads import READERS
from fivesafes.db import session_scope
from fivesafes.deid.io.limits import ReaderLimits
from fivesafes.errors import PayloadTooLargeError
from fivesafes.httpkit.deps import (
    CurrentUser,
    DbSession,
    authenticate_request,
    ensure_role,
    request_context,
    require_role,
)
from fivesafes.httpkit.errors import close_after_response
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import Permit, version_permit
from fivesafes.identity.models import Role, User
from fivesafes.ingestion.accept import accept_upload
from fivesafes.ingestion.header_check import HeaderCheck
from fivesafes.ingestion.multipart_stream import receive_file
from fivesafes.ingestion.runner import IngestionRunner
from fivesafes.ingestion.spool import SpoolWriter
from fivesafes.ingestion.status import upload_status, upload_statuses
from fivesafes.release import withdrawal
from fivesafes.release.withdrawal_views import VersionStatusOut, WithdrawIn, version_status_out

router = APIRouter(tags=["datasets"])
UploadReaders = Annotated[User, Depends(require_role(*READERS))]


@router.get("/datasets", response_model=list[DatasetOut], name="dataset.list")
def list_datasets(session: DbSession, _: CurrentUser) -> list[DatasetOut]:
    return [views.dataset_view(session, d) for d in service.list_datasets(session)]


@router.get("/datasets/{name}", response_model=DatasetOut, name="dataset.view")
def get_dataset(name: str, session: DbSession, _: CurrentUser) -> DatasetOut:
    return views.dataset_view(session, service.get_dataset(session, name))


@router.get(
    "/datasets/{name}/versions/{number}/modifications",
    response_model=ModificationLog,
    name="dataset_version.modifications",
    summary="The modification log of a dataset version: what the policy did to each column "
    "(governance; the version's uploader)",
)
def version_modifications(
    name: str, number: PathId, session: DbSession, user: CurrentUser
) -> ModificationLog:
    """Per column: dropped, pseudonymised, date shifted, generalised (how), scrubbed (labels
    found, how many) or kept; per extract: rows excluded by the opt-out or rejected. Made
    from the stored policy version and the de-identification report: it quotes no data."""
    return modification_log.readable_log(session, user, name, number)


WithdrawPermit = Annotated[Permit, version_permit(Action.DATASET_VERSION_WITHDRAW)]


@router.post(
    "/datasets/{name}/versions/{number}/withdraw",
    response_model=VersionStatusOut,
    name="dataset_version.withdraw",
    tags=["access"],
    summary="Withdraw a dataset version, with a reason (governance; its uploader before "
    "any release)",
    responses={409: {"description": "Already withdrawn"}},
)
def withdraw_version(
    name: str, number: PathId, body: WithdrawIn, ok: WithdrawPermit
) -> VersionStatusOut:
    """The version leaves "latest"; grants fixed to it are refused at release with the
    reason; its data is kept until a purge its policy allows (`fivesafes datasets purge`)."""
    record = withdrawal.withdraw_version(
        *ok.writing, dataset=name, number=number, reason=body.reason, now=ok.now
    )
    return version_status_out(ok.session, record)


def _header_check(request: Request, dataset: str) -> HeaderCheck:
    """Authenticate, and find the dataset's policy, in a short transaction of its own.

    The body may take minutes to arrive; holding the request's transaction (and, on
    SQLite, the database's write lock) open that long would stall every other writer. An
    unknown dataset is refused here, before the body is read; the policy checks the
    file's header row as soon as it arrives.
    """
    with session_scope(request.app.state.session_factory) as session:
        user = authenticate_request(session, request)
        ensure_role(user, frozenset({Role.UPLOADER}))
        _, stored = service.dataset_with_policy(session, dataset)
        policy = service.parsed_policy(stored)
    limits = ReaderLimits.from_settings(request.app.state.settings)
    return HeaderCheck(policy, limits)


@router.post(
    "/datasets/{name}/uploads",
    response_model=UploadAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    name="upload.create",
    summary="Upload an extract (multipart field 'file'); de-identified in the background",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def upload_extract(name: str, request: Request) -> UploadAccepted:
    header_check = await run_in_threadpool(_header_check, request, name)
    settings: Settings = request.app.state.settings
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.upload_max_bytes + 64 * 1024:
        raise PayloadTooLargeError(
            f"upload exceeds the limit of {settings.upload_max_bytes} bytes",
            code="upload_too_large",
        )
    upload_id = uuid.uuid4()
    writer = SpoolWriter(settings.spool_path, upload_id)
    try:
        received = await receive_file(
            request.stream(),
            request.headers.get("content-type"),
            writer,
            settings.upload_max_bytes,
            header_check,
        )
    except BaseException:
        writer.abort()
        # Refused mid-body (a wrong header, too large): the rest is not wanted, so the
        # connection closes after the answer and the client stops sending.
        close_after_response(request)
        raise
    recorder: AuditRecorder = request.app.state.audit_recorder
    trail = AuditTrail(request_context(request), recorder)
    runner: IngestionRunner = request.app.state.ingestion_runner
    return await run_in_threadpool(accept_upload, runner, trail, name, upload_id, received)


@router.get("/uploads", response_model=list[UploadOut], name="upload.list")
def list_uploads(
    request: Request,
    session: DbSession,
    user: UploadReaders,
    limit: Annotated[int, Query(ge=1, le=500, description="How many, newest first")] = 50,
) -> list[UploadOut]:
    """The caller's own uploads (governance: everyone's), newest first."""
    return upload_statuses(session, user, request.app.state.ingestion_runner, limit=limit)


@router.get("/uploads/{upload_id}", response_model=UploadOut, name="upload.view")
def get_upload(
    upload_id: uuid.UUID, request: Request, session: DbSession, user: UploadReaders
) -> UploadOut:
    """One upload, to its uploader or governance; anyone else is told it does not exist."""
    return upload_status(session, user, upload_id, request.app.state.ingestion_runner)
