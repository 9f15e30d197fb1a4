"""Signed hand-overs through the API: a directory the SERVER can read becomes a version.

A Spark job writes its output where the platform's server can read it (a shared mount);
an uploader names that directory and the server verifies and loads it
(:mod:`fivesafes.ingestion.deidentified`). The server reads from its own disk on a
client's word, so the path is confined: only under ``FIVESAFES_HANDOVER_ROOT``, resolved
(symbolic links followed) before the check, and with that setting unset the route
refuses everything (403). Nothing outside the folder is read, listed or named back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from fivesafes.audit.recorder import AuditRecorder
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.trust import trusted_keys
from fivesafes.config import Settings
from fivesafes.db import session_scope
from fivesafes.errors import PermissionDeniedError
from fivesafes.httpkit.deps import authenticate_request, ensure_role, request_context
from fivesafes.identity.models import Role
from fivesafes.ingestion.deidentified import HandoverResult, ingest_deidentified

router = APIRouter(tags=["datasets"])


class HandoverIn(BaseModel):
    """The hand-over directory, relative to the server's hand-over folder (or absolute
    inside it)."""

    path: str = Field(min_length=1, max_length=4096)


class HandoverOut(BaseModel):
    """The dataset version a hand-over became, and the provenance it records."""

    dataset: str
    version: int
    rows: int
    provenance: dict[str, Any]


def confined_path(root: Path | None, given: str) -> Path:
    """``given`` resolved inside ``root``; 403 if hand-overs are off or it leads outside."""
    if root is None:
        raise PermissionDeniedError(
            "this server reads no hand-over directories (FIVESAFES_HANDOVER_ROOT is not set)",
            code="handover_disabled",
        )
    base = root.resolve()
    if "\x00" in given:
        raise PermissionDeniedError("the hand-over path is not a path", code="handover_outside")
    candidate = (base / given).resolve()
    if candidate == base or not candidate.is_relative_to(base):
        raise PermissionDeniedError(
            f"{given}: not a directory inside the server's hand-over folder",
            code="handover_outside",
        )
    return candidate


def _ingest(request: Request, name: str, body: HandoverIn) -> HandoverResult:
    settings: Settings = request.app.state.settings
    with session_scope(request.app.state.session_factory) as session:
        user = authenticate_request(session, request)
        ensure_role(user, frozenset({Role.UPLOADER}))
    directory = confined_path(settings.handover_root, body.path)
    recorder: AuditRecorder = request.app.state.audit_recorder
    trail = AuditTrail(request_context(request), recorder)
    return ingest_deidentified(
        request.app.state.session_factory,
        trail,
        name,
        directory,
        trusted_keys(settings, request.app.state.keystore),
    )


@router.post(
    "/datasets/{name}/handovers",
    response_model=HandoverOut,
    status_code=status.HTTP_201_CREATED,
    name="handover.create",
    summary="Load a signed hand-over directory (under FIVESAFES_HANDOVER_ROOT) as a version",
)
async def create_handover(name: str, body: HandoverIn, request: Request) -> HandoverOut:
    result = await run_in_threadpool(_ingest, request, name, body)
    return HandoverOut(
        dataset=result.dataset,
        version=result.version,
        rows=result.rows,
        provenance=result.provenance,
    )
