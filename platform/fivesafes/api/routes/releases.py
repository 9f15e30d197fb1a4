"""Releases: `GET /grants/{id}/data`, `/grants/{id}/columns`, `/grants/{id}/releases`,
`/releases/{id}/manifest`.

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

from fivesafes.access.policy import Action
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import CurrentUser, DbSession, Trail
from fivesafes.httpkit.downloads import release_response
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import ActiveGrant, Permit, Policy, permit
from fivesafes.release import grant_summary, service
from fivesafes.release.download import Download
from fivesafes.release.manifest import manifest_view
from fivesafes.release.models import ReleaseFormat
from fivesafes.release.schemas import ColumnNoteOut, ReleaseOut

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
    return release_response(request, session, trail, policy, Download(user, grant, fmt, utcnow()))


@router.get(
    "/grants/{grant_id}/columns",
    name="release.columns",
    response_model=list[ColumnNoteOut],
    summary="What each column of the grant's data is (pseudonym, age band, shifted date...)",
    responses={409: {"description": "No release can be made now (the reason says why)"}},
)
def list_columns(
    grant_id: PathId,
    session: DbSession,
    ok: Annotated[Permit, permit(Action.GRANT_VIEW, "grant")],
) -> list[ColumnNoteOut]:
    _, notes = grant_summary.grant_notes(session, ok.target.loaded_grant)
    return [ColumnNoteOut.model_validate(n) for n in notes]


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
