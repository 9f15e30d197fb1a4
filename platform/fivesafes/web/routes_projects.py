"""Projects in the pages: a researcher proposes one (purpose, lawful basis, ethics and
data sharing references, dates, members); governance approves or rejects it, adds and
removes members, and revokes a grant with a reason the project's members then read.

Every page and form is admitted by the same permit as the API's project routes
(``httpkit.permits.permit``, the route name being the action a refusal is audited under)
and acts through the same services (``access.service``, ``access.grants``), so a page
never allows what the API refuses. A form whose input is refused is shown again with the
problems named on it (422, or 404/409 for a member who is not there or already is), its
attempt rolled back and recorded on the trail as failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from pydantic import ValidationError
from starlette.responses import Response

from fivesafes.access import grants, service
from fivesafes.access.decide import decide
from fivesafes.access.facts import Target, subject_of
from fivesafes.access.models import LawfulBasis, Project, ProjectState, SpecialCategoryCondition
from fivesafes.access.policy import Action
from fivesafes.access.schemas import MemberIn, ProjectDecisionIn, ProjectIn, RevokeIn
from fivesafes.access.views import grant_out, project_out, request_out
from fivesafes.closeout.rules import DECLARATION
from fivesafes.closeout.status import status_of
from fivesafes.errors import FivesafesError, InvalidInputError
from fivesafes.httpkit.deps import require_role
from fivesafes.httpkit.errors import audit_refusal, status_for
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import Permit, permit
from fivesafes.identity.directory import usernames
from fivesafes.identity.models import Role, User
from fivesafes.validation_messages import problem_messages
from fivesafes.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Officer = Annotated[User, Depends(require_role(Role.GOVERNANCE))]
Username = Annotated[str, Path(min_length=1, max_length=64)]
#: A form field's cap before the schema's own limits (the body is capped as a whole too).
_TEXT = 20_000

#: The labels problems on the proposal form are named by.
PROPOSAL_LABELS = {
    "title": "Title",
    "purpose": "Purpose",
    "lay_summary": "Lay summary",
    "ethics_ref": "Ethics approval reference",
    "dsa_ref": "Data sharing agreement reference",
    "lawful_basis": "Lawful basis",
    "special_category_condition": "Special category condition",
    "start_date": "Start date",
    "end_date": "End date",
    "members": "Other members",
}
_REASON_LABELS = {"reason": "Reason", "username": "Username"}
_SEPARATORS = re.compile(r"[\s,;]+")


def gdpr_label(condition: StrEnum) -> str:
    """``6.1.e-public-task`` as ``Article 6(1)(e): public task``: the article, paragraph
    and point the value encodes, then its words (every member labelled, none forgotten)."""
    ref, _, words = condition.value.partition("-")
    article, paragraph, point = ref.split(".")
    return f"Article {article}({paragraph})({point}): {words.replace('-', ' ')}"


def _choices(members: Iterable[StrEnum]) -> list[tuple[str, str]]:
    return [(m.value, gdpr_label(m)) for m in members]


def usernames_listed(text: str) -> list[str]:
    """The usernames typed into the members box (commas, spaces or new lines between),
    each once, in the order given."""
    seen: dict[str, None] = {}
    for name in _SEPARATORS.split(text.strip()):
        if name:
            seen.setdefault(name.lower(), None)
    return list(seen)


def _refused(
    request: Request, ok: Permit, exc: Exception, labels: Mapping[str, str] = _REASON_LABELS
) -> tuple[int, list[str]]:
    """Undo what the refused attempt wrote, record it as failed, and say why.

    The request's transaction is rolled back first: the refusal is recorded in a
    transaction of its own, which SQLite would otherwise make wait for this one.
    """
    ok.session.rollback()
    if isinstance(exc, ValidationError):
        status, code = 422, "invalid_request"
        messages = problem_messages(exc.errors(), whole="form", labels=labels)
    else:
        assert isinstance(exc, FivesafesError)
        status, code, messages = status_for(exc), exc.code, [exc.message]
    audit_refusal(request, status, code, {})
    return status, messages


#: What a refused form can be: its input, or the service's verdict on it.
_FORM_ERRORS = (ValidationError, InvalidInputError)
_ACTION_ERRORS = (ValidationError, FivesafesError)


# ---------------------------------------------------------------------- the proposal


ProposePermit = Annotated[Permit, permit(Action.PROJECT_PROPOSE)]


def _proposal_page(
    request: Request, values: Mapping[str, str], errors: list[str], status: int = 200
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "lawful_bases": _choices(LawfulBasis),
        "conditions": _choices(SpecialCategoryCondition),
    }
    return render(request, "researcher/project_form.html", context, status)


@router.get("/web/research/projects/new", name="web.project_form")
def project_form(request: Request, ok: ProposePermit) -> Response:
    return _proposal_page(request, {}, [])


@router.post("/web/research/projects", name="web.project_propose")
def project_propose(
    *,
    request: Request,
    ok: ProposePermit,
    title: Annotated[str, Form(max_length=_TEXT)] = "",
    purpose: Annotated[str, Form(max_length=_TEXT)] = "",
    lay_summary: Annotated[str, Form(max_length=_TEXT)] = "",
    ethics_ref: Annotated[str, Form(max_length=_TEXT)] = "",
    dsa_ref: Annotated[str, Form(max_length=_TEXT)] = "",
    lawful_basis: Annotated[str, Form(max_length=_TEXT)] = "",
    special_category_condition: Annotated[str, Form(max_length=_TEXT)] = "",
    start_date: Annotated[str, Form(max_length=_TEXT)] = "",
    end_date: Annotated[str, Form(max_length=_TEXT)] = "",
    members: Annotated[str, Form(max_length=_TEXT)] = "",
) -> Response:
    """The proposer leads the project; it waits in governance's list until decided."""
    values = {
        "title": title.strip(),
        "purpose": purpose.strip(),
        "lay_summary": lay_summary.strip(),
        "ethics_ref": ethics_ref.strip(),
        "dsa_ref": dsa_ref.strip(),
        "lawful_basis": lawful_basis,
        "special_category_condition": special_category_condition,
        "start_date": start_date,
        "end_date": end_date,
    }
    try:
        body = ProjectIn.model_validate({**values, "members": usernames_listed(members)})
        project = service.propose_project(*ok.writing, body=body, now=ok.now)
    except _FORM_ERRORS as exc:
        status, messages = _refused(request, ok, exc, PROPOSAL_LABELS)
        return _proposal_page(request, {**values, "members": members}, messages, status)
    return redirect(f"/web/projects/{project.id}?notice=project_proposed")


# ------------------------------------------------------------------- the project page


ViewPermit = Annotated[Permit, permit(Action.PROJECT_VIEW, "project")]


def _allowed(ok: Permit, action: Action, target: Target) -> bool:
    """Whether ``ok.user`` may do ``action`` to ``target``: which forms the page offers
    (the route and service decide again when one is sent)."""
    return decide(subject_of(ok.user), action, target.resource, ok.policy, ok.now).allowed


def _project_page(
    request: Request, ok: Permit, project: Project, errors: list[str], status: int = 200
) -> Response:
    session, policy, now = ok.session, ok.policy, ok.now
    requests = service.list_requests(*ok.reading, now, project_id=project.id)
    held = grants.list_grants(*ok.reading, now, project_id=project.id)
    shown = project_out(project)
    ids = {str(project.lead_id), *(str(r.requester_id) for r in requests)}
    ids |= {str(x) for x in (project.decided_by, *(g.revoked_by for g in held)) if x}
    target = Target(project)
    context = {
        "project": shown,
        "requests": [request_out(policy, r) for r in requests],
        "grants": [grant_out(g, now) for g in held],
        "revocable": {
            g.id
            for g in held
            if g.revoked_at is None
            and _allowed(ok, Action.GRANT_REVOKE, Target(project, g.request, g))
        },
        "revoked_by": {g.id: str(g.revoked_by) for g in held if g.revoked_by},
        "decided_by": str(project.decided_by) if project.decided_by else None,
        "names": usernames(session, ids),
        "may_change_members": _allowed(ok, Action.PROJECT_MEMBERS, target),
        "may_request": _allowed(ok, Action.REQUEST_CREATE, target),
        "may_decide": _allowed(ok, Action.PROJECT_APPROVE, target),
        # Close-out (routes_closeout posts the forms): the status, and which forms to offer.
        "closeout": status_of(
            session, project, now, request.app.state.settings.closeout_attestation_days
        ),
        "may_close": _allowed(ok, Action.PROJECT_CLOSE, target),
        "may_attest": _allowed(ok, Action.ATTESTATION_SUBMIT, target),
        "declaration": DECLARATION,
        "officer": ok.user.role is Role.GOVERNANCE,
        "labels": {c.value: gdpr_label(c) for c in (*LawfulBasis, *SpecialCategoryCondition)},
        "errors": errors,
        "now": now,
    }
    return render(request, "project.html", context, status)


@router.get("/web/projects/{project_id}", name="web.project")
def project_page(project_id: PathId, request: Request, ok: ViewPermit) -> Response:
    """A project's terms, members, requests and grants (a revoked grant says why)."""
    return _project_page(request, ok, ok.target.loaded_project, [])


# ---------------------------------------------------------------- governance: decisions


ListPermit = Annotated[Permit, permit(Action.PROJECT_LIST)]


def _projects_page(
    request: Request, ok: Permit, errors: Mapping[int, list[str]], status: int = 200
) -> Response:
    every = service.list_projects(*ok.reading, ok.now)
    proposed = [p for p in every if p.state is ProjectState.PROPOSED]
    names = usernames(ok.session, (str(p.lead_id) for p in every))
    context = {
        "proposed": [project_out(p) for p in proposed],
        "decided": [project_out(p) for p in every if p.state is not ProjectState.PROPOSED],
        "names": names,
        "labels": {c.value: gdpr_label(c) for c in (*LawfulBasis, *SpecialCategoryCondition)},
        "errors": errors,
    }
    return render(request, "governance/projects.html", context, status)


@router.get("/web/governance/projects", name="web.governance.projects")
def projects(request: Request, _: Officer, ok: ListPermit) -> Response:
    """Proposals waiting for a decision (with the form), then every other project."""
    return _projects_page(request, ok, {})


Reason = Annotated[str, Form(max_length=_TEXT)]


def _decision_route(action: Action, verb: str) -> None:
    """``POST .../approve`` and ``.../reject``: one shape, two actions (and two permits).

    Both buttons sit in one form on the list; the reject button posts to its own route
    (``formaction``), so each decision is admitted by the permit of its own action.
    """
    approve = action is Action.PROJECT_APPROVE
    # A default, not Annotated[...]: annotations are strings here, unresolvable in a closure.
    permitted = permit(action, "project")
    past = "approved" if approve else "rejected"

    @router.post(
        f"/web/governance/projects/{{project_id}}/{verb}", name=f"web.governance.project_{verb}"
    )
    def decide_project(
        project_id: PathId, request: Request, reason: Reason = "", ok: Permit = permitted
    ) -> Response:
        try:
            body = ProjectDecisionIn(reason=reason)
            service.decide_project(
                *ok.writing, project_id=project_id, approve=approve, reason=body.reason, now=ok.now
            )
        except _ACTION_ERRORS as exc:
            status, messages = _refused(request, ok, exc)
            return _projects_page(request, ok, {project_id: messages}, status)
        return redirect(f"/web/governance/projects?notice=project_{past}")


_decision_route(Action.PROJECT_APPROVE, "approve")
_decision_route(Action.PROJECT_REJECT, "reject")


# ------------------------------------------------------ governance: members and grants


MembersPermit = Annotated[Permit, permit(Action.PROJECT_MEMBERS, "project")]


def _after(
    request: Request, ok: Permit, project: Project, notice: str, act: Callable[[], object]
) -> Response:
    """Run ``act`` (one service call); back to the project page, with its notice or with
    the refusal shown on the page."""
    project_id = project.id
    try:
        act()
    except _ACTION_ERRORS as exc:
        status, messages = _refused(request, ok, exc)
        return _project_page(request, ok, ok.target.loaded_project, messages, status)
    return redirect(f"/web/projects/{project_id}?notice={notice}")


@router.post("/web/governance/projects/{project_id}/members", name="web.governance.member_add")
def member_add(
    project_id: PathId,
    request: Request,
    ok: MembersPermit,
    username: Annotated[str, Form(max_length=_TEXT)] = "",
) -> Response:
    def act() -> None:
        member = MemberIn(username=username.strip().lower())
        service.add_member(ok, project_id=project_id, username=member.username)

    return _after(request, ok, ok.target.loaded_project, "member_added", act)


@router.post(
    "/web/governance/projects/{project_id}/members/{username}/remove",
    name="web.governance.member_remove",
)
def member_remove(
    project_id: PathId, username: Username, request: Request, ok: MembersPermit
) -> Response:
    """Their use of the project's grants stops at once (``grant.use`` asks membership)."""

    def act() -> None:
        service.remove_member(ok, project_id=project_id, username=username)

    return _after(request, ok, ok.target.loaded_project, "member_removed", act)


@router.post("/web/governance/grants/{grant_id}/revoke", name="web.governance.grant_revoke")
def grant_revoke(
    grant_id: PathId,
    request: Request,
    ok: Annotated[Permit, permit(Action.GRANT_REVOKE, "grant")],
    reason: Reason = "",
) -> Response:
    """Revoked at once (the next download is refused); the reason is shown to members."""

    def act() -> None:
        body = RevokeIn(reason=reason.strip())
        grants.revoke_grant(*ok.writing, grant_id=grant_id, reason=body.reason, now=ok.now)

    return _after(request, ok, ok.target.loaded_project, "grant_revoked", act)
