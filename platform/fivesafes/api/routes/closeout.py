"""Project close-out: close early, the close-out status, attestations and their review.

Thin routes over :mod:`fivesafes.closeout.service`, which holds every rule (who may, the
states, separation of duties) and asks ``decide`` again under the project's row lock.
The route names are the audited actions of refusals; free text (reasons, methods,
copies) is never audited, only ids and the attested content's hash.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from fivesafes.access.acting import Acting
from fivesafes.closeout import service, status
from fivesafes.closeout.models import AttestationState
from fivesafes.closeout.schemas import AttestationIn, AttestationOut, CloseIn, CloseoutOut, RejectIn
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import AppSettings, CurrentUser, DbSession, Trail
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import Policy

router = APIRouter(tags=["close-out"])

_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not allowed (role, not the lead, own attestation, project state)"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such project"}}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "That release already has an attestation submitted or accepted"}
}


@router.post(
    "/projects/{project_id}/close",
    name="project.close",
    response_model=CloseoutOut,
    summary="Close a project before its end date (its lead or governance), with a reason",
    responses={**_FORBIDDEN, **_NOT_FOUND},
)
def close_project(
    project_id: PathId,
    body: CloseIn,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
    policy: Policy,
    settings: AppSettings,
) -> CloseoutOut:
    acting = Acting(session, trail, policy, user, utcnow())
    service.request_close(
        acting,
        project_id=project_id,
        reason=body.reason,
        copies_folder=settings.release_copies_path,
    )
    found = status.project_closeout(
        session, policy, user, project_id, acting.now, settings.closeout_attestation_days
    )
    return CloseoutOut.of(found)


@router.get(
    "/projects/{project_id}/closeout",
    name="project.closeout",
    response_model=CloseoutOut,
    summary="A project's close-out: its state, each release's attestation, overdue or not",
    responses={**_FORBIDDEN, **_NOT_FOUND},
)
def get_closeout(
    project_id: PathId,
    session: DbSession,
    user: CurrentUser,
    policy: Policy,
    settings: AppSettings,
) -> CloseoutOut:
    found = status.project_closeout(
        session, policy, user, project_id, utcnow(), settings.closeout_attestation_days
    )
    return CloseoutOut.of(found)


@router.post(
    "/projects/{project_id}/attestations",
    name="attestation.submit",
    status_code=201,
    response_model=list[AttestationOut],
    summary="Submit a signed destruction attestation for one or several releases (the lead)",
    responses={**_FORBIDDEN, **_NOT_FOUND, **_CONFLICT},
)
def submit(
    project_id: PathId,
    body: AttestationIn,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
    policy: Policy,
) -> list[AttestationOut]:
    acting = Acting(session, trail, policy, user, utcnow())
    made = service.submit_attestations(
        acting, project_id=project_id, release_ids=body.release_ids, content=body.to_content()
    )
    return [AttestationOut.of(a) for a in made]


@router.post(
    "/attestations/{attestation_id}/accept",
    name="attestation.accept",
    response_model=AttestationOut,
    summary="Accept an attestation (governance, not its submitter); the last one closes",
    responses={**_FORBIDDEN, 404: {"description": "No such attestation"}},
)
def accept(
    attestation_id: PathId,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
    policy: Policy,
    settings: AppSettings,
) -> AttestationOut:
    acting = Acting(session, trail, policy, user, utcnow())
    done = service.review_attestation(
        acting,
        attestation_id=attestation_id,
        review=service.Review(accept=True),
        copies_folder=settings.release_copies_path,
    )
    return AttestationOut.of(done)


@router.post(
    "/attestations/{attestation_id}/reject",
    name="attestation.reject",
    response_model=AttestationOut,
    summary="Reject an attestation with a reason (governance); the lead may submit again",
    responses={**_FORBIDDEN, 404: {"description": "No such attestation"}},
)
def reject(
    attestation_id: PathId,
    body: RejectIn,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
    policy: Policy,
    settings: AppSettings,
) -> AttestationOut:
    acting = Acting(session, trail, policy, user, utcnow())
    done = service.review_attestation(
        acting,
        attestation_id=attestation_id,
        review=service.Review(accept=False, reason=body.reason),
        copies_folder=settings.release_copies_path,
    )
    return AttestationOut.of(done)


@router.get(
    "/attestations",
    name="attestation.queue",
    response_model=list[AttestationOut],
    summary="Attestations in a state, oldest first (governance; submitted: the queue)",
    responses=_FORBIDDEN,
)
def queue(
    session: DbSession,
    user: CurrentUser,
    policy: Policy,
    state: Annotated[AttestationState, Query()] = AttestationState.SUBMITTED,
) -> list[AttestationOut]:
    found = service.attestation_queue(session, policy, user, utcnow(), state)
    return [AttestationOut.of(a) for a in found]
