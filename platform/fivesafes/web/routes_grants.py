"""A researcher's grant: what it gives, what it last gave, and its downloads.

The grant page shows the grant's terms (version followed or pinned, expiry, state and a
revocation's reason), what each column is (``release.column_notes``), the last release's
counts and suppression drivers from its manifest, and download buttons. The download
route prepares and streams a release through the same use case as the API's data route
(``httpkit.downloads``); a refusal (disclosure gate, grant no longer usable, version
withdrawn...) is audited by the error pages like any other, and shown on its own page
with the reason and what to do, never as JSON or an empty download.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from fivesafes.access.policy import Action
from fivesafes.access.views import grant_out, project_out
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import DbSession, Trail, require_role
from fivesafes.httpkit.downloads import release_response
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import ActiveGrant, Permit, Policy, permit
from fivesafes.identity.models import Role, User
from fivesafes.release import grant_summary, service
from fivesafes.release.download import Download
from fivesafes.release.manifest import manifest_view
from fivesafes.release.models import ReleaseFormat
from fivesafes.web.rendering import WebRoute, render, with_security_headers

Researcher = Annotated[User, Depends(require_role(Role.RESEARCHER))]
GrantView = Annotated[Permit, permit(Action.GRANT_VIEW, "grant")]
#: The formats a release is streamed in, with their labels on the download buttons.
FORMATS = (
    (ReleaseFormat.CSV, "CSV"),
    (ReleaseFormat.JSONL, "JSON Lines"),
    (ReleaseFormat.PARQUET, "Parquet"),
)

#: What a researcher can do about each refusal of a download (by error code or prefix).
ADVICE: dict[str, tuple[str, ...]] = {
    "disclosure_refused": (
        "Send a new request that releases fewer quasi-identifiers, or coarser ones: dates "
        "by month or year instead of by day, for example.",
        "Or a different row filter: one that leaves out the rare combinations, or one "
        "that takes in more patients, so that each combination is shared by at least k.",
        "The governance team can tell you what the access policy allows.",
    ),
    "release_too_large": (
        "Ask the governance team for grants with narrower row filters (for example one "
        "per year), each within the limit of one release.",
    ),
    "release_columns_missing": (
        "The dataset's current version no longer has a column of this grant: ask the "
        "governance team for a grant pinned to a version that has it.",
    ),
    "denied_grant_revoked": (
        "The governance team revoked this grant; the grant page shows their reason.",
        "If your project still needs the data, contact them: a new request is needed.",
    ),
    "denied_grant_expired": (
        "The grant has expired. If your project still needs the data, send a new request "
        "from your home page.",
    ),
    "denied_not_member": (
        "Only members of the grant's project may download its data: ask the project lead "
        "or the governance team to add you.",
    ),
    "denied_project_": (
        "The project is not active now (not yet started, suspended or ended): ask the "
        "governance team.",
    ),
    "version_": (
        "The dataset version this grant reads cannot be released now (the reason is "
        "above). A grant that follows the latest version releases a newer one once it is "
        "available; for a grant pinned to this version, ask the governance team for a "
        "grant on another one.",
    ),
    "grant_not_found": ("Check the grant number on your home page.",),
}
ASK_GOVERNANCE = ("Contact the governance team, quoting the error code below.",)


def advice_for(code: str) -> tuple[str, ...]:
    """What to do about a refused download: the advice of its code, or of its family."""
    if code in ADVICE:
        return ADVICE[code]
    family = next((k for k in ADVICE if k.endswith("_") and code.startswith(k)), None)
    return ADVICE[family] if family is not None else ASK_GOVERNANCE


class DownloadRoute(WebRoute):
    """A download: its refusals get their own page, naming the grant and what to do."""

    refusal_template = "researcher/download_refused.html"

    def refusal_context(self, request: Request, code: str) -> dict[str, Any]:
        grant_id = str(request.path_params.get("grant_id", ""))
        return {
            "grant_id": grant_id if grant_id.isdigit() else None,
            "advice": advice_for(code),
        }


router = APIRouter(route_class=WebRoute, include_in_schema=False)
downloads = APIRouter(route_class=DownloadRoute, include_in_schema=False)


@router.get("/web/research/grants/{grant_id}", name="web.grant")
def grant_page(
    grant_id: PathId, request: Request, session: DbSession, user: Researcher, ok: GrantView
) -> Response:
    grant = ok.target.loaded_grant
    summary = grant_summary.summarise(session, grant)
    return render(
        request,
        "researcher/grant.html",
        {
            "grant": grant_out(grant, ok.now),
            "project": project_out(grant.project),
            "summary": summary,
            "formats": FORMATS,
            "now": ok.now,
        },
    )


@downloads.get("/web/research/grants/{grant_id}/download", name="web.grant_download")
def download(
    grant_id: PathId,
    request: Request,
    session: DbSession,
    user: Researcher,
    trail: Trail,
    policy: Policy,
    grant: ActiveGrant,
    fmt: Annotated[ReleaseFormat, Query(alias="format")] = ReleaseFormat.CSV,
) -> StreamingResponse:
    return release_response(request, session, trail, policy, Download(user, grant, fmt, utcnow()))


@router.get("/web/research/releases/{release_id}", name="web.release")
def release_page(
    release_id: uuid.UUID, request: Request, session: DbSession, user: Researcher, policy: Policy
) -> Response:
    release = service.get_release(session, policy, user, release_id, utcnow())
    manifest = manifest_view(release)
    return render(
        request,
        "researcher/release.html",
        {
            "release": grant_summary.summarise_release(release),
            "grant_id": release.grant_id,
            "manifest": manifest,
            "manifest_json": json.dumps(manifest, indent=2, sort_keys=True, default=str),
        },
    )


@router.get("/web/research/releases/{release_id}/manifest.json", name="web.release_manifest")
def release_manifest(
    release_id: uuid.UUID, session: DbSession, user: Researcher, policy: Policy
) -> Response:
    """The manifest as a file to keep with the data (the same JSON as the API's)."""
    release = service.get_release(session, policy, user, release_id, utcnow())
    body = json.dumps(manifest_view(release), indent=2, sort_keys=True, default=str)
    response = Response(
        body + "\n",
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="release-{release_id}-manifest.json"'
        },
    )
    return with_security_headers(response)


router.include_router(downloads)
