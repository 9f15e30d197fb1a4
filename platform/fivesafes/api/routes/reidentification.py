"""Governed re-identification: request, two approvals, one execution, the action taken.

Thin routes over :mod:`fivesafes.reidentification.service`, which holds every rule (who
may, the two-person rule, expiry, the monthly limit, membership of the release). The
route names are the audited actions of refusals; the bodies (justifications, reasons,
pseudonyms) are never audited by the error handlers, only the path's request id.

The execute response is the only place an NHS number leaves the platform through the
API: it is built from the decrypted subjects in memory and sent with ``no-store``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from fivesafes.db import utcnow
from fivesafes.httpkit.deps import AppSettings, CurrentUser, DbSession, Trail, require_role
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import Policy
from fivesafes.identity.models import Role, User
from fivesafes.keys.store import KeyStore
from fivesafes.reidentification import service
from fivesafes.reidentification.schemas import (
    ReidActionIn,
    ReidDecisionIn,
    ReidExecutionOut,
    ReidRequestIn,
    ReidRequestOut,
)

router = APIRouter(tags=["reidentification"])
PATH = "/reidentification-requests"
ONE = PATH + "/{reidentification_id}"
#: Who may see requests at all (the service narrows a researcher to their projects').
Viewer = Annotated[User, Depends(require_role(Role.GOVERNANCE, Role.RESEARCHER, Role.REIDENTIFIER))]

_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not allowed to do this (role, project or own request)"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such request (or not yours to know of)"}
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not in a state that allows this (expired, decided...)"}
}


def _keystore(request: Request) -> KeyStore:
    keystore: KeyStore = request.app.state.keystore
    return keystore


@router.post(
    PATH,
    name="reidentification.request",
    status_code=201,
    response_model=ReidRequestOut,
    summary="Ask for project pseudonyms of a release to be re-identified (researcher)",
    responses={
        **_FORBIDDEN,
        404: {"description": "Release not under this grant, or a pseudonym not in it"},
        409: {"description": "The dataset does not allow re-identification"},
        429: {"description": "The project's monthly re-identification limit is reached"},
    },
)
def create(
    body: ReidRequestIn,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
    policy: Policy,
) -> ReidRequestOut:
    now = utcnow()
    made = service.create_request(
        session, trail, policy, _keystore(request), user, body.to_new(), now
    )
    return ReidRequestOut.of(made, now, trust_side=user.role != Role.RESEARCHER)


@router.get(
    PATH,
    name="reidentification.list",
    response_model=list[ReidRequestOut],
    summary="Re-identification requests you may see, newest first",
    responses=_FORBIDDEN,
)
def list_requests(session: DbSession, user: Viewer, policy: Policy) -> list[ReidRequestOut]:
    now = utcnow()
    return [
        ReidRequestOut.of(r, now, trust_side=user.role != Role.RESEARCHER)
        for r in service.list_requests(session, policy, user)
    ]


@router.get(
    ONE,
    name="reidentification.view_request",
    response_model=ReidRequestOut,
    summary="One re-identification request: its state and approvals (never an NHS number)",
    responses={**_FORBIDDEN, **_NOT_FOUND},
)
def get_request(
    reidentification_id: PathId, session: DbSession, user: Viewer, policy: Policy
) -> ReidRequestOut:
    found = service.get_request(session, policy, user, reidentification_id)
    return ReidRequestOut.of(found, utcnow(), trust_side=user.role != Role.RESEARCHER)


@router.post(
    ONE + "/approve",
    name="reidentification.approve",
    response_model=ReidRequestOut,
    summary="Approve a request (governance; two distinct officers, not the requester)",
    responses={**_FORBIDDEN, **_NOT_FOUND, **_CONFLICT},
)
def approve(
    reidentification_id: PathId,
    body: ReidDecisionIn,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
    settings: AppSettings,
) -> ReidRequestOut:
    now = utcnow()
    decided = service.approve(
        session,
        trail,
        settings.reid_require_caldicott_guardian,
        user,
        reidentification_id,
        body.reason,
        now,
    )
    return ReidRequestOut.of(decided, now, trust_side=user.role != Role.RESEARCHER)


@router.post(
    ONE + "/reject",
    name="reidentification.reject",
    response_model=ReidRequestOut,
    summary="Reject a request (governance): it can never be executed",
    responses={**_FORBIDDEN, **_NOT_FOUND, **_CONFLICT},
)
def reject(
    reidentification_id: PathId,
    body: ReidDecisionIn,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
) -> ReidRequestOut:
    now = utcnow()
    decided = service.reject(session, trail, user, reidentification_id, body.reason, now)
    return ReidRequestOut.of(decided, now, trust_side=user.role != Role.RESEARCHER)


@router.post(
    ONE + "/execute",
    name="reidentification.execute",
    response_model=ReidExecutionOut,
    summary="Reverse an approved request once (reidentifier): the NHS numbers, this once",
    responses={**_FORBIDDEN, **_NOT_FOUND, **_CONFLICT},
)
def execute(
    reidentification_id: PathId,
    request: Request,
    response: Response,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
) -> ReidExecutionOut:
    revealed = service.execute(
        session, trail, _keystore(request), user, reidentification_id, utcnow(), "api"
    )
    response.headers["Cache-Control"] = "no-store"
    return ReidExecutionOut.of(reidentification_id, revealed)


@router.post(
    ONE + "/action",
    name="reidentification.action",
    response_model=ReidRequestOut,
    summary="Record the action taken after a reversal (the reidentifier who executed it)",
    responses={**_FORBIDDEN, **_NOT_FOUND, **_CONFLICT},
)
def record_action(
    reidentification_id: PathId,
    body: ReidActionIn,
    session: DbSession,
    user: CurrentUser,
    trail: Trail,
) -> ReidRequestOut:
    now = utcnow()
    done = service.record_action(session, trail, user, reidentification_id, body.action_taken, now)
    return ReidRequestOut.of(done, now, trust_side=user.role != Role.RESEARCHER)
