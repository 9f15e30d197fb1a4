"""Five Safes RO-Crates: ``GET /releases/{id}/crate`` and ``GET /projects/{id}/crate``.

Each is a signed zip (docs/crates.md), streamed: the release's data file is read from
its retained copy chunk by chunk as the response is sent. The request's transaction
(permission, audit) commits before the first byte, like a download's.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from fivesafes.access.policy import Action
from fivesafes.config import Settings
from fivesafes.crate import service
from fivesafes.crate.package import CratePackage
from fivesafes.crate.terms import PROFILE
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import CurrentUser, DbSession, Trail
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import Permit, Policy, permit
from fivesafes.keys.store import KeyStore

router = APIRouter(tags=["crates"])

_ZIP: dict[int | str, dict[str, Any]] = {
    200: {"description": "The crate, a signed zip", "content": {"application/zip": {}}}
}


def _response(crate: CratePackage) -> StreamingResponse:
    return StreamingResponse(
        crate.body,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{crate.file_name}"',
            "Link": f'<{PROFILE}>; rel="profile", <https://w3id.org/ro/crate>; rel="profile"',
        },
    )


@router.get(
    "/releases/{release_id}/crate",
    name="release.crate",
    summary="The release as a Five Safes RO-Crate: its file, metadata and signature",
    response_class=StreamingResponse,
    responses={
        **_ZIP,
        403: {"description": "Grant expired, revoked, project ended or closing"},
        404: {"description": "No such release (or one of another project)"},
        409: {"description": "No retained copy of the release (release_copy_unavailable)"},
    },
)
def release_crate(
    release_id: uuid.UUID,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
    policy: Policy,
) -> StreamingResponse:
    keystore: KeyStore = request.app.state.keystore
    settings: Settings = request.app.state.settings
    crate = service.release_crate(
        session,
        trail,
        policy,
        user,
        keystore,
        settings.release_copies_path,
        release_id,
        utcnow(),
    )
    return _response(crate)


@router.get(
    "/projects/{project_id}/crate",
    name="project.crate",
    summary="The project as a Five Safes RO-Crate: governance, releases by hash, "
    "destruction attestations (no data)",
    response_class=StreamingResponse,
    responses=_ZIP,
)
def project_crate(
    project_id: PathId,
    request: Request,
    ok: Annotated[Permit, permit(Action.PROJECT_VIEW, "project")],
) -> StreamingResponse:
    keystore: KeyStore = request.app.state.keystore
    project = ok.target.loaded_project
    return _response(service.project_crate(ok.session, ok.trail, keystore, project, ok.now))
