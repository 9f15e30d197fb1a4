"""Projects, data access requests, reviews, grants and `GET /access/explain`.

Routes are thin. Authorisation is one dependency, :func:`permit`, which loads the target
named by the path, asks ``decide`` and refuses with 403 naming the rule; the route name
is the action, so a refusal is audited under it. The permit also carries the transaction
and trail, so a route is one service call (``*ok.writing`` or ``*ok.reading``: the
leading arguments every access service takes) and one presenter. Services ask ``decide``
again before writing (the CLI goes through them too).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from fivesafes.access import grants, service
from fivesafes.access.models import AccessRequest, RequestState
from fivesafes.access.policy import Action
from fivesafes.access.schemas import (
    ExplainOut,
    GrantOut,
    MemberIn,
    ProjectDecisionIn,
    ProjectIn,
    ProjectOut,
    RequestIn,
    RequestOut,
    ReviewIn,
    RevokeIn,
)
from fivesafes.access.views import grant_out, project_out, request_out
from fivesafes.db import utcnow
from fivesafes.httpkit.params import MAX_ID, PathId, QueryId
from fivesafes.httpkit.permits import ActiveGrant, Permit, permit
from fivesafes.httpkit.previews import previewer
from fivesafes.release import preview
from fivesafes.release.preview_views import PreviewOut, preview_out

router = APIRouter(tags=["access"])
CREATED = status.HTTP_201_CREATED


def _requests_out(ok: Permit, found: list[AccessRequest]) -> list[RequestOut]:
    return [request_out(ok.policy, r) for r in found]


# --------------------------------------------------------------------------- projects


@router.post(
    "/projects",
    name="project.create",
    response_model=ProjectOut,
    status_code=CREATED,
    summary="Create an active project (governance)",
)
def create_project(
    body: ProjectIn, ok: Annotated[Permit, permit(Action.PROJECT_CREATE)]
) -> ProjectOut:
    return project_out(service.create_project(*ok.writing, body=body, now=ok.now))


@router.post(
    "/projects/proposals",
    name="project.propose",
    response_model=ProjectOut,
    status_code=CREATED,
    summary="Propose a project you will lead (researcher); governance approves it",
)
def propose_project(
    body: ProjectIn, ok: Annotated[Permit, permit(Action.PROJECT_PROPOSE)]
) -> ProjectOut:
    return project_out(service.propose_project(*ok.writing, body=body, now=ok.now))


@router.get(
    "/projects",
    name="project.list",
    response_model=list[ProjectOut],
    summary="Projects you may see",
)
def list_projects(ok: Annotated[Permit, permit(Action.PROJECT_LIST)]) -> list[ProjectOut]:
    return [project_out(p) for p in service.list_projects(*ok.reading, ok.now)]


@router.get("/projects/{project_id}", name="project.view", response_model=ProjectOut)
def get_project(
    project_id: PathId, ok: Annotated[Permit, permit(Action.PROJECT_VIEW, "project")]
) -> ProjectOut:
    return project_out(ok.target.loaded_project)


def _project_decision_route(action: Action, verb: str) -> None:
    """``POST /projects/{id}/approve`` and ``.../reject``: one shape, two actions."""
    approve = action is Action.PROJECT_APPROVE
    # A default, not Annotated[...]: annotations are strings here, unresolvable in a closure.
    permitted = permit(action, "project")

    @router.post(f"/projects/{{project_id}}/{verb}", name=action.value, response_model=ProjectOut)
    def decide_project(
        project_id: PathId, body: ProjectDecisionIn, ok: Permit = permitted
    ) -> ProjectOut:
        project = service.decide_project(
            *ok.writing, project_id=project_id, approve=approve, reason=body.reason, now=ok.now
        )
        return project_out(project)


_project_decision_route(Action.PROJECT_APPROVE, "approve")
_project_decision_route(Action.PROJECT_REJECT, "reject")

Members = Annotated[Permit, permit(Action.PROJECT_MEMBERS, "project")]


@router.post(
    "/projects/{project_id}/members",
    name="project.members",
    response_model=ProjectOut,
    summary="Add a researcher to a project (governance)",
)
def add_member(project_id: PathId, body: MemberIn, ok: Members) -> ProjectOut:
    project = service.add_member(ok, project_id=project_id, username=body.username)
    return project_out(project)


@router.delete(
    "/projects/{project_id}/members/{username}",
    name="project.members.remove",
    response_model=ProjectOut,
    summary="Remove a member (their use of the project's grants stops at once)",
)
def remove_member(project_id: PathId, username: str, ok: Members) -> ProjectOut:
    return project_out(service.remove_member(ok, project_id=project_id, username=username))


# --------------------------------------------------------------------------- requests


@router.post(
    "/projects/{project_id}/requests",
    name="request.create",
    response_model=RequestOut,
    status_code=CREATED,
    summary="Ask for columns (and rows) of a dataset for a project (member)",
)
def create_request(
    project_id: PathId,
    body: RequestIn,
    ok: Annotated[Permit, permit(Action.REQUEST_CREATE, "project")],
) -> RequestOut:
    req = service.create_request(*ok.writing, project_id=project_id, body=body, now=ok.now)
    return request_out(ok.policy, req)


@router.get("/projects/{project_id}/requests", name="request.list", response_model=list[RequestOut])
def list_project_requests(
    project_id: PathId, ok: Annotated[Permit, permit(Action.REQUEST_LIST, "project")]
) -> list[RequestOut]:
    return _requests_out(ok, service.list_requests(*ok.reading, ok.now, project_id=project_id))


@router.get(
    "/requests",
    name="request.queue",
    response_model=list[RequestOut],
    summary="Requests across projects, e.g. ?state=pending (governance)",
)
def request_queue(
    ok: Annotated[Permit, permit(Action.REQUEST_QUEUE)],
    state: Annotated[RequestState | None, Query()] = None,
) -> list[RequestOut]:
    return _requests_out(ok, service.list_requests(*ok.reading, ok.now, state=state))


@router.get("/requests/{request_id}", name="request.view", response_model=RequestOut)
def get_request(
    request_id: PathId, ok: Annotated[Permit, permit(Action.REQUEST_VIEW, "request")]
) -> RequestOut:
    return request_out(ok.policy, ok.target.loaded_request)


@router.get(
    "/requests/{request_id}/preview",
    name="request.preview",
    response_model=PreviewOut,
    summary="What the disclosure gate would do to this request's release, now (audited)",
    responses={409: {"description": "No version can be read now, or too many rows"}},
)
def preview_request(
    request_id: PathId,
    request: Request,
    ok: Annotated[Permit, permit(Action.REQUEST_VIEW, "request")],
) -> PreviewOut:
    return preview_out(preview.preview_request(previewer(request, ok), request_id=request_id))


@router.post(
    "/projects/{project_id}/requests/preview",
    name="request.preview_draft",
    response_model=PreviewOut,
    summary="Preview the disclosure of a request before submitting it (member; audited)",
    responses={409: {"description": "No version can be read now, or too many rows"}},
)
def preview_draft(
    project_id: PathId,
    body: RequestIn,
    request: Request,
    ok: Annotated[Permit, permit(Action.REQUEST_CREATE, "project")],
) -> PreviewOut:
    found = preview.preview_draft(previewer(request, ok), project_id=project_id, body=body)
    return preview_out(found)


def _review_route(action: Action, verb: str) -> None:
    """``POST /requests/{id}/approve`` and ``.../reject``: one shape, two actions. An
    approval takes the disclosure preview first; against a refusal it needs
    ``override_reason`` (422 ``override_reason_required`` without)."""
    approve = action is Action.REQUEST_APPROVE
    permitted = permit(action, "request")  # a default, as in _project_decision_route

    @router.post(f"/requests/{{request_id}}/{verb}", name=action.value, response_model=RequestOut)
    def review_request(
        request_id: PathId, body: ReviewIn, request: Request, ok: Permit = permitted
    ) -> RequestOut:
        choice = service.ReviewChoice(approve, body.reason, body.override_reason)
        req = preview.review_with_preview(
            previewer(request, ok), request_id=request_id, choice=choice
        )
        return request_out(ok.policy, req)


_review_route(Action.REQUEST_APPROVE, "approve")
_review_route(Action.REQUEST_REJECT, "reject")


# ----------------------------------------------------------------------------- grants


@router.get("/grants", name="grant.list", response_model=list[GrantOut])
def list_grants(
    ok: Annotated[Permit, permit(Action.GRANT_LIST)],
    project: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this project's grants")
    ] = None,
) -> list[GrantOut]:
    found = grants.list_grants(*ok.reading, ok.now, project_id=project)
    return [grant_out(g, ok.now) for g in found]


@router.get("/grants/{grant_id}", name="grant.view", response_model=GrantOut)
def get_grant(
    grant_id: PathId, ok: Annotated[Permit, permit(Action.GRANT_VIEW, "grant")]
) -> GrantOut:
    return grant_out(ok.target.loaded_grant, ok.now)


@router.post("/grants/{grant_id}/revoke", name="grant.revoke", response_model=GrantOut)
def revoke_grant(
    grant_id: PathId, body: RevokeIn, ok: Annotated[Permit, permit(Action.GRANT_REVOKE, "grant")]
) -> GrantOut:
    grant = grants.revoke_grant(*ok.writing, grant_id=grant_id, reason=body.reason, now=ok.now)
    return grant_out(grant, ok.now)


@router.get(
    "/grants/{grant_id}/check",
    name="grant.use",
    response_model=GrantOut,
    summary="Whether you may use this grant now (the check every data call makes)",
)
def check_grant(grant_id: PathId, grant: ActiveGrant) -> GrantOut:
    return grant_out(grant, utcnow())


# ---------------------------------------------------------------------------- explain


@router.get(
    "/access/explain",
    name="access.explain",
    response_model=ExplainOut,
    summary="Why a user may or may not do an action (governance)",
)
def explain(
    *,
    ok: Annotated[Permit, permit(Action.ACCESS_EXPLAIN)],
    user: Annotated[str, Query(min_length=1, max_length=64, description="Username")],
    action: Annotated[Action, Query()],
    project: QueryId = None,
    request: QueryId = None,
    grant: QueryId = None,
) -> ExplainOut:
    query = grants.ExplainQuery(user, action, project, request, grant)
    decision = grants.explain(*ok.writing, query, now=ok.now)
    return ExplainOut(
        user=user,
        action=action,
        project=project,
        request=request,
        grant=grant,
        allowed=decision.allowed,
        rule=decision.rule,
        reason=decision.reason,
        at=ok.now,
    )
