"""Releases: `GET /grants/{id}/data`, `GET /grants/{id}/releases`, `GET /releases/{id}/manifest`.

A download is checked, gated, recorded and audited in the request's transaction, which is
committed before the response starts (``DbSession``); only then are rows streamed, from a
separate read-only connection. Any refusal (expired or revoked grant, not a member,
disclosure gate) is an error response before a single byte of data, and is audited by the
error handlers under the route's name.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.policy import Action
from fivesafes.config import Settings
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import CurrentUser, DbSession, Trail
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import ActiveGrant, Permit, Policy, permit
from fivesafes.keys.store import KeyStore
from fivesafes.release import service
from fivesafes.release.download import Download, ReleaseLimits
from fivesafes.release.manifest import manifest_view
from fivesafes.release.models import ReleaseFormat
from fivesafes.release.schemas import ReleaseOut
from fivesafes.release.writers import MEDIA_TYPES

router = APIRouter(tags=["releases"])


@router.get(
    "/grants/{grant_id}/data",
    name="release.download",
    summary="Download the granted data (project pseudonyms, disclosure gate, shuffled rows)",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The release, streamed", "content": {"text/csv": {}}},
        403: {"description": "Grant expired, revoked, project ended or not a member"},
        409: {"description": "Refused by the disclosure gate, or more rows than one release"},
    },
)
def download(
    request: Request,
    session: DbSession,
    *,
    user: CurrentUser,
    trail: Trail,
    policy: Policy,
    grant: ActiveGrant,
    fmt: Annotated[ReleaseFormat, Query(alias="format")] = ReleaseFormat.CSV,
) -> StreamingResponse:
    keystore: KeyStore = request.app.state.keystore
    engine: Engine = request.app.state.engine
    settings: Settings = request.app.state.settings
    limits = ReleaseLimits(
        settings.spool_path / "releases",
        spool_memory_bytes=settings.release_memory_mb << 20,
        max_rows=settings.release_max_rows,
    )
    prepared = service.prepare_release(
        session,
        trail,
        keystore,
        policy,
        Download(user, grant, fmt, utcnow()),
        engine=engine,
        limits=limits,
    )
    factory: sessionmaker[Session] = request.app.state.session_factory
    return StreamingResponse(
        service.stream_release(prepared, factory),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{prepared.filename}"',
            "X-Release-Id": str(prepared.release_id),
            "X-Release-Rows": str(prepared.gate.rows_released),
            "X-Release-Manifest": f"/releases/{prepared.release_id}/manifest",
        },
    )


@router.get(
    "/grants/{grant_id}/releases",
    name="release.list",
    response_model=list[ReleaseOut],
    summary="Releases made under a grant",
)
def list_releases(
    grant_id: PathId, session: DbSession, ok: Annotated[Permit, permit(Action.GRANT_VIEW, "grant")]
) -> list[ReleaseOut]:
    return [ReleaseOut.model_validate(r) for r in service.list_releases(session, grant_id)]


@router.get(
    "/releases/{release_id}/manifest",
    name="release.manifest",
    summary="The release manifest (JSON disclosure record), with the delivered SHA-256",
)
def get_manifest(
    release_id: uuid.UUID, session: DbSession, user: CurrentUser, policy: Policy
) -> dict[str, Any]:
    release = service.get_release(session, policy, user, release_id, utcnow())
    return manifest_view(release)
