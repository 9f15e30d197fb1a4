"""The one access decision: may this subject do this action to that resource, now?

:func:`decide` is pure: it reads only its arguments (facts loaded by the caller, the
policy, the clock value) and returns a :class:`Decision` naming the rule that decided, so
`GET /access/explain` can show a governance officer exactly why. Routes reach it through
one dependency; services call it again before they write (the CLI and tests go through
services only), so no path skips it.

Order of checks: a disabled subject; the role's permission in the policy; its scope
(member, lead); then the rules no policy can switch off (separation of duties, one review
per officer, states and dates of projects, requests and grants).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from fivesafes.access.models import ProjectState, RequestState
from fivesafes.access.policy import AccessPolicy, Action, Scope
from fivesafes.identity.models import Role


@dataclass(frozen=True, slots=True)
class Subject:
    """Who asks: a user id (as a string), their role, and whether the account is active."""

    user_id: str
    role: Role
    active: bool = True


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    id: int
    state: ProjectState
    start_date: date
    end_date: date
    lead_id: str
    member_ids: frozenset[str] = field(default_factory=frozenset)

    def includes(self, user_id: str) -> bool:
        return user_id == self.lead_id or user_id in self.member_ids


@dataclass(frozen=True, slots=True)
class RequestFacts:
    id: int
    state: RequestState
    requester_id: str
    reviewer_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class GrantFacts:
    id: int
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """A dataset version: who uploaded it (a user id) and whether any data left it."""

    dataset: str
    number: int
    uploaded_by: str | None
    released: bool

    @property
    def label(self) -> str:
        return f"dataset {self.dataset!r} version {self.number}"


@dataclass(frozen=True, slots=True)
class AttestationFacts:
    """A destruction attestation (close-out): who submitted it, and whether it awaits review."""

    id: int
    submitted_by: str
    awaiting_review: bool


@dataclass(frozen=True, slots=True)
class Resource:
    """What the action is about; a request or grant always comes with its project."""

    project: ProjectFacts | None = None
    request: RequestFacts | None = None
    grant: GrantFacts | None = None
    version: VersionFacts | None = None
    attestation: AttestationFacts | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str  # a policy key (``roles.researcher.request.create``) or a fixed rule id
    reason: str


# Fixed rules (not switchable by policy). Stable: audit details and clients key on them.
SUBJECT_DISABLED = "subject_disabled"
NOT_PERMITTED = "not_permitted"
NO_PROJECT = "no_project"
NOT_MEMBER = "not_member"
NOT_LEAD = "not_lead"
SEPARATION_OF_DUTIES = "separation_of_duties"
ALREADY_REVIEWED = "already_reviewed"
REQUEST_NOT_PENDING = "request_not_pending"
PROJECT_NOT_PROPOSED = "project_not_proposed"
PROJECT_NOT_ACTIVE = "project_not_active"
PROJECT_NOT_STARTED = "project_not_started"
PROJECT_ENDED = "project_ended"
GRANT_REVOKED = "grant_revoked"
GRANT_EXPIRED = "grant_expired"
NO_VERSION = "no_version"
NOT_UPLOADER = "not_uploader"
VERSION_RELEASED = "version_released"
PROJECT_NOT_CLOSING = "project_not_closing"
ATTESTATION_NOT_SUBMITTED = "attestation_not_submitted"

_REVIEW = frozenset({Action.REQUEST_APPROVE, Action.REQUEST_REJECT})
_ENDING = frozenset({ProjectState.CLOSING, ProjectState.CLOSED})


def _deny(rule: str, reason: str) -> Decision:
    return Decision(False, rule, reason)


def _version_scope(subject: Subject, version: VersionFacts | None) -> Decision | None:
    """``uploaded_unreleased``: the subject's own upload, none of whose data has left."""
    if version is None:
        return _deny(NO_VERSION, "permission is limited to dataset versions one uploaded")
    if version.uploaded_by != subject.user_id:
        return _deny(NOT_UPLOADER, f"only the uploader of {version.label} may do this")
    if version.released:
        return _deny(
            VERSION_RELEASED,
            f"data of {version.label} has already been released: only governance may "
            "withdraw it now",
        )
    return None


def _scope_check(subject: Subject, scope: Scope, resource: Resource) -> Decision | None:
    if scope is Scope.ANY:
        return None
    if scope is Scope.UPLOADED_UNRELEASED:
        return _version_scope(subject, resource.version)
    project = resource.project
    if project is None:
        return _deny(NO_PROJECT, f"permission is limited to {scope.value}s of a project")
    if scope is Scope.LEAD and subject.user_id != project.lead_id:
        return _deny(NOT_LEAD, f"only the lead of project {project.id} may do this")
    if scope is Scope.MEMBER and not project.includes(subject.user_id):
        return _deny(NOT_MEMBER, f"not a member of project {project.id}")
    return None


def _project_live(project: ProjectFacts, now: datetime, *, started: bool) -> Decision | None:
    today = now.date()
    if project.state in _ENDING:
        # Same stable rule as any non-active project; the message says what happens now.
        return _deny(
            PROJECT_NOT_ACTIVE,
            f"project {project.id} is {project.state}, not active: its grants no longer "
            "work; the project lead must destroy every copy of its releases and submit a "
            "destruction attestation for each (docs/closeout.md)",
        )
    if project.state != ProjectState.ACTIVE:
        return _deny(PROJECT_NOT_ACTIVE, f"project {project.id} is {project.state}, not active")
    if today > project.end_date:
        return _deny(PROJECT_ENDED, f"project {project.id} ended on {project.end_date}")
    if started and today < project.start_date:
        return _deny(PROJECT_NOT_STARTED, f"project {project.id} starts on {project.start_date}")
    return None


def _invariants(
    subject: Subject, action: Action, resource: Resource, now: datetime
) -> Decision | None:
    project, request, grant = resource.project, resource.request, resource.grant
    if (
        action in (Action.PROJECT_APPROVE, Action.PROJECT_REJECT)
        and project is not None
        and project.state != ProjectState.PROPOSED
    ):
        return _deny(PROJECT_NOT_PROPOSED, f"project {project.id} is {project.state}")
    if action is Action.REQUEST_CREATE and project is not None:
        return _project_live(project, now, started=False)
    if action in _REVIEW and request is not None:
        if subject.user_id == request.requester_id:
            return _deny(SEPARATION_OF_DUTIES, "nobody may review their own request")
        if request.state != RequestState.PENDING:
            return _deny(REQUEST_NOT_PENDING, f"request {request.id} is {request.state}")
        if subject.user_id in request.reviewer_ids:
            return _deny(ALREADY_REVIEWED, f"you have already reviewed request {request.id}")
        if project is not None:
            return _project_live(project, now, started=False)
    closeout = _closeout_invariants(subject, action, resource)
    if closeout is not None:
        return closeout
    if action is Action.GRANT_USE:
        if grant is None or project is None:
            return _deny(NO_PROJECT, "a grant and its project are needed")
        return grant_refusal(grant, project, now)
    return None


def _closeout_invariants(subject: Subject, action: Action, resource: Resource) -> Decision | None:
    """Close-out: an active project is closed (once; closing is final), attestations are
    submitted and reviewed while it is closing, and nobody reviews their own."""
    project, attestation = resource.project, resource.attestation
    if project is None:
        return None
    if action is Action.PROJECT_CLOSE and project.state != ProjectState.ACTIVE:
        return _deny(PROJECT_NOT_ACTIVE, f"project {project.id} is {project.state}, not active")
    if action is Action.PROJECT_MEMBERS and project.state in _ENDING:
        # Who was on the project when it began closing is who holds its releases: the
        # list the attestations and the project's RO-Crate answer for stays as it was.
        return _deny(
            PROJECT_NOT_ACTIVE,
            f"project {project.id} is {project.state}: its members can no longer change",
        )
    attesting = action in (Action.ATTESTATION_SUBMIT, Action.ATTESTATION_REVIEW)
    if attesting and project.state != ProjectState.CLOSING:
        return _deny(
            PROJECT_NOT_CLOSING,
            f"project {project.id} is {project.state}: attestations are submitted and "
            "reviewed only while a project is closing",
        )
    if action is Action.ATTESTATION_REVIEW and attestation is not None:
        if subject.user_id == attestation.submitted_by:
            return _deny(SEPARATION_OF_DUTIES, "nobody may review their own attestation")
        if not attestation.awaiting_review:
            return _deny(
                ATTESTATION_NOT_SUBMITTED,
                f"attestation {attestation.id} has already been reviewed",
            )
    return None


def grant_refusal(grant: GrantFacts, project: ProjectFacts, now: datetime) -> Decision | None:
    """The rule that stops anyone using ``grant`` at ``now``, or None if it is live.

    The part of ``grant.use`` that does not depend on who asks, so "is this grant live?"
    (shown on every grant) is this same rule and cannot drift from :func:`decide`. A
    revocation counts whatever its timestamp: it takes effect at once and is never
    scheduled, so a ``revoked_at`` a little ahead of this clock (another server's) must
    not reopen the grant.
    """
    if grant.revoked_at is not None:
        return _deny(GRANT_REVOKED, f"grant {grant.id} was revoked")
    if now >= grant.expires_at:
        return _deny(GRANT_EXPIRED, f"grant {grant.id} expired at {grant.expires_at}")
    return _project_live(project, now, started=True)


def decide(
    subject: Subject, action: Action, resource: Resource, policy: AccessPolicy, now: datetime
) -> Decision:
    """Allow or deny, with the rule that decided (pure: no I/O, no clock of its own)."""
    if not subject.active:
        return _deny(SUBJECT_DISABLED, "the account is disabled")
    scope = policy.scope_of(subject.role, action)
    if scope is None:
        return _deny(NOT_PERMITTED, f"role {subject.role.value!r} does not hold {action.value!r}")
    denied = _scope_check(subject, scope, resource) or _invariants(subject, action, resource, now)
    if denied is not None:
        return denied
    rule = f"roles.{subject.role.value}.{action.value}"
    return Decision(True, rule, f"{rule}: {scope.value}")
