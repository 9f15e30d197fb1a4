"""From rows to the plain facts :func:`~fivesafes.access.decide.decide` reads, and back.

Loading is the only impure part of an access decision: it happens here, once, and the
decision itself stays a pure function of what was loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from fivesafes.access.decide import (
    Decision,
    GrantFacts,
    ProjectFacts,
    RequestFacts,
    Resource,
    Subject,
    VersionFacts,
    decide,
)
from fivesafes.access.models import AccessRequest, Grant, Project, ReviewDecision
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.datasets.models import DatasetVersion
from fivesafes.errors import NotFoundError, PermissionDeniedError
from fivesafes.identity.models import User


def subject_of(user: User) -> Subject:
    return Subject(user_id=str(user.id), role=user.role, active=user.is_active)


def project_facts(project: Project) -> ProjectFacts:
    return ProjectFacts(
        id=project.id,
        state=project.state,
        start_date=project.start_date,
        end_date=project.end_date,
        lead_id=str(project.lead_id),
        member_ids=frozenset(str(m.user_id) for m in project.members),
    )


def request_facts(request: AccessRequest) -> RequestFacts:
    return RequestFacts(
        id=request.id,
        state=request.state,
        requester_id=str(request.requester_id),
        reviewer_ids=frozenset(str(r.reviewer_id) for r in request.reviews),
    )


def grant_facts(grant: Grant) -> GrantFacts:
    return GrantFacts(id=grant.id, expires_at=grant.expires_at, revoked_at=grant.revoked_at)


def version_facts(version: DatasetVersion, *, released: bool) -> VersionFacts:
    """``released``: whether any release read this version (the caller counts them)."""
    return VersionFacts(
        dataset=version.dataset.name,
        number=version.number,
        uploaded_by=version.uploaded_by,
        released=released,
    )


@dataclass(frozen=True, slots=True)
class Target:
    """The rows an action is about, and their facts."""

    project: Project | None = None
    request: AccessRequest | None = None
    grant: Grant | None = None
    version: DatasetVersion | None = None
    version_released: bool = False

    @property
    def loaded_project(self) -> Project:
        """The project, which a target loaded by any id has (a request or grant brings it)."""
        assert self.project is not None
        return self.project

    @property
    def loaded_request(self) -> AccessRequest:
        assert self.request is not None
        return self.request

    @property
    def loaded_grant(self) -> Grant:
        assert self.grant is not None
        return self.grant

    @property
    def loaded_version(self) -> DatasetVersion:
        assert self.version is not None
        return self.version

    @property
    def resource(self) -> Resource:
        return Resource(
            project=project_facts(self.project) if self.project else None,
            request=request_facts(self.request) if self.request else None,
            grant=grant_facts(self.grant) if self.grant else None,
            version=(
                version_facts(self.version, released=self.version_released)
                if self.version
                else None
            ),
        )


def load_target(
    session: Session,
    *,
    project_id: int | None = None,
    request_id: int | None = None,
    grant_id: int | None = None,
    lock: bool = False,
) -> Target:
    """The target named by ids (a grant brings its request and project); 404 if missing.

    ``lock`` takes a row lock on the request (PostgreSQL) so two officers approving at the
    same moment are serialised and neither approval is lost.
    """
    grant = request = project = None
    if grant_id is not None:
        grant = session.get(Grant, grant_id)
        if grant is None:
            raise NotFoundError(f"no grant {grant_id}", code="grant_not_found")
        request_id = grant.request_id
    if request_id is not None:
        request = session.get(AccessRequest, request_id, with_for_update=lock or None)
        if request is None:
            raise NotFoundError(f"no request {request_id}", code="request_not_found")
        project_id = request.project_id
    if project_id is not None:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFoundError(f"no project {project_id}", code="project_not_found")
    return Target(project=project, request=request, grant=grant)


def authorize(
    policy: AccessPolicy, user: User, action: Action, target: Target, now: datetime
) -> Decision:
    """:func:`decide`, raising :class:`PermissionDeniedError` (naming the rule) on deny."""
    return authorize_resource(policy, user, action, target.resource, now)


def authorize_resource(
    policy: AccessPolicy, user: User, action: Action, resource: Resource, now: datetime
) -> Decision:
    """:func:`authorize` for facts a caller built itself (close-out's attestations)."""
    decision = decide(subject_of(user), action, resource, policy, now)
    if not decision.allowed:
        raise PermissionDeniedError(
            f"{decision.reason} (rule: {decision.rule})", code=f"denied_{decision.rule}"
        )
    return decision


def authorized_target(
    session: Session,
    policy: AccessPolicy,
    user: User,
    action: Action,
    now: datetime,
    *,
    lock: bool = False,
    **ids: int,
) -> Target:
    """:func:`load_target` by ``ids`` then :func:`authorize`: what every service acting
    on a project, request or grant does first."""
    target = load_target(session, lock=lock, **ids)
    authorize(policy, user, action, target, now)
    return target


def approvals(request: AccessRequest) -> set[str]:
    """Distinct approvers of a request other than its requester."""
    return {
        str(r.reviewer_id)
        for r in request.reviews
        if r.decision == ReviewDecision.APPROVE and r.reviewer_id != request.requester_id
    }
