"""Close-out in the pages: the lead (or governance) closes a project early, the lead
signs a destruction attestation per outstanding release, governance accepts or rejects.

The forms live on the project page (``routes_projects``), which shows the close-out
status; governance's queue of attestations is ``/web/governance/closeout``. Each form
acts through :mod:`fivesafes.closeout.service`, which asks ``decide`` exactly as the API
does; a refused form is shown again with its problems named (422/403/409), its attempt
rolled back and recorded on the trail as failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from fivesafes.access.policy import Action
from fivesafes.closeout import service
from fivesafes.closeout.models import AttestationState
from fivesafes.closeout.schemas import AttestationIn, CloseIn, RejectIn
from fivesafes.closeout.status import statuses_of
from fivesafes.errors import FivesafesError
from fivesafes.httpkit.deps import require_role
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import Permit, permit
from fivesafes.identity.directory import usernames
from fivesafes.identity.models import Role, User
from fivesafes.web.rendering import WebRoute, redirect, render
from fivesafes.web.routes_projects import _project_page, _refused

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Officer = Annotated[User, Depends(require_role(Role.GOVERNANCE))]
_TEXT = 20_000
Text = Annotated[str, Form(max_length=_TEXT)]
_ERRORS = (ValidationError, FivesafesError)
LABELS = {
    "reason": "Reason",
    "release_ids": "Releases",
    "destroyed_by": "Destroyed by",
    "destroyed_on": "Date destroyed",
    "method": "How",
    "copies": "Copies destroyed",
    "accept_declaration": "Declaration",
    "signed_name": "Your full name (signature)",
}


def _on_project_page(
    request: Request, ok: Permit, notice: str, act: Callable[[], object]
) -> Response:
    project = ok.target.loaded_project
    project_id = project.id
    try:
        act()
    except _ERRORS as exc:
        status, messages = _refused(request, ok, exc, LABELS)
        return _project_page(request, ok, ok.target.loaded_project, messages, status)
    return redirect(f"/web/projects/{project_id}?notice={notice}#closeout")


@router.post("/web/projects/{project_id}/close", name="web.project_close")
def close_project(
    project_id: PathId,
    request: Request,
    ok: Annotated[Permit, permit(Action.PROJECT_CLOSE, "project")],
    reason: Text = "",
) -> Response:
    """Closing is final: the project's grants stop at once."""
    folder = request.app.state.settings.release_copies_path

    def act() -> None:
        body = CloseIn(reason=reason.strip())
        service.request_close(ok, project_id=project_id, reason=body.reason, copies_folder=folder)

    return _on_project_page(request, ok, "project_closing", act)


@router.post("/web/projects/{project_id}/attestations", name="web.attestation_submit")
def submit_attestation(
    *,
    project_id: PathId,
    request: Request,
    ok: Annotated[Permit, permit(Action.ATTESTATION_SUBMIT, "project")],
    release_id: Text = "",
    destroyed_by: Text = "",
    destroyed_on: Text = "",
    method: Text = "",
    copies: Text = "",
    accept_declaration: Text = "",
    signed_name: Text = "",
) -> Response:
    """One release per form (the API takes several); copies one per line."""

    def act() -> None:
        body = AttestationIn.model_validate(
            {
                "release_ids": [release_id.strip()] if release_id.strip() else [],
                "destroyed_by": destroyed_by,
                "destroyed_on": destroyed_on or None,
                "method": method,
                "copies": [line for line in copies.splitlines() if line.strip()],
                "accept_declaration": accept_declaration == "yes",
                "signed_name": signed_name,
            }
        )
        service.submit_attestations(
            ok, project_id=project_id, release_ids=body.release_ids, content=body.to_content()
        )

    return _on_project_page(request, ok, "attestation_submitted", act)


# ------------------------------------------------------------------- governance queue


QueuePermit = Annotated[Permit, permit(Action.ATTESTATION_QUEUE)]


def _queue_page(
    request: Request, ok: Permit, errors: dict[int, list[str]], status: int = 200
) -> Response:
    session = ok.session
    days = request.app.state.settings.closeout_attestation_days
    waiting = service.attestation_queue(
        session, ok.policy, ok.user, ok.now, AttestationState.SUBMITTED
    )
    statuses = statuses_of(session, {a.project_id for a in waiting}, ok.now, days)
    names = usernames(session, {str(a.submitted_by) for a in waiting})
    context = {
        "waiting": waiting,
        "statuses": statuses,
        "names": names,
        "copies": {a.id: json.loads(a.copies) for a in waiting},
        "me": ok.user.id,
        "errors": errors,
    }
    return render(request, "governance/closeout.html", context, status)


@router.get("/web/governance/closeout", name="web.governance.closeout")
def closeout_queue(request: Request, _: Officer, ok: QueuePermit) -> Response:
    """Destruction attestations waiting for review, oldest first."""
    return _queue_page(request, ok, {})


@router.post(
    "/web/governance/attestations/{attestation_id}/review",
    name="web.governance.attestation_review",
)
def review_attestation(
    attestation_id: PathId,
    request: Request,
    _: Officer,
    ok: QueuePermit,
    decision: Annotated[Literal["accept", "reject"], Form()],
    reason: Text = "",
) -> Response:
    """Accept, or reject with a reason the lead reads; the last acceptance closes."""
    folder = request.app.state.settings.release_copies_path
    try:
        accept = decision == "accept"
        if not accept:
            RejectIn(reason=reason.strip())
        done = service.review_attestation(
            ok,
            attestation_id=attestation_id,
            review=service.Review(accept=accept, reason=reason.strip() or None),
            copies_folder=folder,
        )
    except _ERRORS as exc:
        status, messages = _refused(request, ok, exc, LABELS)
        return _queue_page(request, ok, {attestation_id: messages}, status)
    notice = (
        "attestation_accepted"
        if done.state is AttestationState.ACCEPTED
        else "attestation_rejected"
    )
    return redirect(f"/web/governance/closeout?notice={notice}")
