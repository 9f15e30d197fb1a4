"""Projects, data access requests, reviews and grants.

Every function that acts for a user takes the policy, the user and ``now``, and asks
:func:`~fivesafes.access.facts.authorize` (hence ``decide``) before it writes: the API
has already asked once through its dependency; asking again here keeps the CLI and any
future caller on the same rules. Services flush and never commit; each step is audited
in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from fivesafes.access.acting import Acting
from fivesafes.access.decide import decide
from fivesafes.access.facts import Target, approvals, authorize, authorized_target, subject_of
from fivesafes.access.filters import check_filter, to_text
from fivesafes.access.models import (
    AccessRequest,
    Grant,
    Project,
    ProjectMember,
    ProjectState,
    RequestReview,
    RequestState,
    ReviewDecision,
)
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.access.schemas import ProjectIn, RequestIn
from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.models import Dataset, DatasetPolicyVersion, DatasetVersion, OptOutList
from fivesafes.datasets.review import ensure_releasable
from fivesafes.datasets.service import dataset_with_policy, get_dataset, get_dataset_version
from fivesafes.deid.plan import output_columns
from fivesafes.deid.policy import parse_policy
from fivesafes.errors import ConflictError, InvalidInputError, NotFoundError
from fivesafes.identity.models import Role, User

# What a list shows of each row, loaded with the list (not one query per row).
_PROJECT_SHOWN = selectinload(Project.members).joinedload(ProjectMember.user)
REQUEST_SHOWN = (
    selectinload(AccessRequest.reviews),
    selectinload(AccessRequest.grant),
    joinedload(AccessRequest.dataset),
)

# ---------------------------------------------------------------------------- projects


def _researcher(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise InvalidInputError(f"no user {username!r}", code="user_not_found")
    if user.role is not Role.RESEARCHER or not user.is_active:
        raise InvalidInputError(
            f"{username!r} is not an active researcher; only researchers join projects",
            code="not_a_researcher",
        )
    return user


def newest_pseudonym_generation(session: Session) -> int:
    """The newest pseudonym generation any stored data is at (1 before any rotation).

    A new project has released nothing, so it has no linkage to keep: it starts at the
    newest generation rather than the first, and its project keys never derive from a
    retired pseudonym key (docs/keys.md, "Pseudonym key rotation").
    """
    newest: list[int | None] = [
        session.scalar(select(func.max(DatasetVersion.pseudonym_generation))),
        session.scalar(select(func.max(OptOutList.pseudonym_generation))),
    ]
    return max([1, *(int(g) for g in newest if g is not None)])


def _new_project(
    session: Session, body: ProjectIn, lead: User, creator: User, state: ProjectState
) -> Project:
    project = Project(
        title=body.title,
        purpose=body.purpose,
        lay_summary=body.lay_summary,
        ethics_ref=body.ethics_ref,
        dsa_ref=body.dsa_ref,
        lawful_basis=body.lawful_basis.value,
        special_category_condition=body.special_category_condition.value,
        start_date=body.start_date,
        end_date=body.end_date,
        state=state,
        lead_id=lead.id,
        created_by=creator.id,
        pseudonym_generation=newest_pseudonym_generation(session),
    )
    users = {lead.id: lead}
    for username in body.members:
        member = _researcher(session, username)
        users[member.id] = member
    project.members = [ProjectMember(user_id=uid) for uid in users]
    session.add(project)
    session.flush()
    return project


def create_project(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    actor: User,
    *,
    body: ProjectIn,
    now: datetime,
) -> Project:
    """A governance officer creates an active project (the lead must be named)."""
    authorize(policy, actor, Action.PROJECT_CREATE, Target(), now)
    if body.lead is None:
        raise InvalidInputError("a project needs a lead researcher", code="lead_required")
    project = _new_project(
        session, body, _researcher(session, body.lead), actor, ProjectState.ACTIVE
    )
    project.decided_by, project.decided_at = actor.id, now
    session.flush()
    _record_project(session, trail, "project.create", project)
    return project


def propose_project(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    actor: User,
    *,
    body: ProjectIn,
    now: datetime,
) -> Project:
    """A researcher proposes a project they will lead; governance approves or rejects it."""
    authorize(policy, actor, Action.PROJECT_PROPOSE, Target(), now)
    if body.lead is not None and body.lead != actor.username:
        raise InvalidInputError("the proposer leads a proposed project", code="lead_is_proposer")
    project = _new_project(session, body, actor, actor, ProjectState.PROPOSED)
    _record_project(session, trail, "project.propose", project)
    return project


def decide_project(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    actor: User,
    *,
    project_id: int,
    approve: bool,
    reason: str,
    now: datetime,
) -> Project:
    action = Action.PROJECT_APPROVE if approve else Action.PROJECT_REJECT
    target = authorized_target(session, policy, actor, action, now, project_id=project_id)
    project = target.loaded_project
    project.state = ProjectState.ACTIVE if approve else ProjectState.REJECTED
    project.decided_by, project.decided_at, project.decision_reason = actor.id, now, reason
    session.flush()
    _record_project(session, trail, action.value, project)
    return project


def _record_project(session: Session, trail: AuditTrail, action: str, project: Project) -> None:
    trail.record(
        session,
        action,
        target_type="project",
        target_id=str(project.id),
        details={
            "state": project.state,
            "lead_id": str(project.lead_id),
            "members": len(project.members),
            "start_date": project.start_date.isoformat(),
            "end_date": project.end_date.isoformat(),
        },
    )


def list_projects(
    session: Session, policy: AccessPolicy, actor: User, now: datetime
) -> list[Project]:
    """The projects ``actor`` may view (every listed one passed ``decide``)."""
    authorize(policy, actor, Action.PROJECT_LIST, Target(), now)
    projects = session.scalars(select(Project).order_by(Project.id).options(_PROJECT_SHOWN))
    return [p for p in projects if _allowed(policy, actor, Action.PROJECT_VIEW, Target(p), now)]


def _allowed(
    policy: AccessPolicy, actor: User, action: Action, target: Target, now: datetime
) -> bool:
    return decide(subject_of(actor), action, target.resource, policy, now).allowed


def add_member(acting: Acting, *, project_id: int, username: str) -> Project:
    """Add a researcher to a project (``project.members``)."""
    project = _members_of(acting, project_id)
    user = _researcher(acting.session, username)
    if any(m.user_id == user.id for m in project.members):
        raise ConflictError(f"{username!r} is already a member", code="already_member")
    project.members.append(ProjectMember(user_id=user.id))
    return _record_member(acting, "project.member_add", project, user)


def remove_member(acting: Acting, *, project_id: int, username: str) -> Project:
    """Remove a member: their use of the project's grants stops at once."""
    project = _members_of(acting, project_id)
    user = acting.session.scalar(select(User).where(User.username == username))
    membership = next((m for m in project.members if user and m.user_id == user.id), None)
    if user is None or membership is None:
        raise NotFoundError(f"{username!r} is not a member", code="not_a_member")
    if user.id == project.lead_id:
        raise ConflictError("the lead cannot be removed", code="lead_not_removable")
    project.members.remove(membership)
    return _record_member(acting, "project.member_remove", project, user)


def _members_of(acting: Acting, project_id: int) -> Project:
    """The project whose members the actor may change (``project.members``)."""
    return authorized_target(
        *acting.reading, Action.PROJECT_MEMBERS, acting.now, project_id=project_id
    ).loaded_project


def _record_member(acting: Acting, action: str, project: Project, user: User) -> Project:
    session = acting.session
    session.flush()
    acting.trail.record(
        session,
        action,
        target_type="project",
        target_id=str(project.id),
        details={"user_id": str(user.id)},
    )
    return project


# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class DatasetTerms:
    """What a request may ask of a dataset: its policy version and output columns."""

    dataset: Dataset
    policy_version: DatasetPolicyVersion
    columns: Mapping[str, str]  # output name -> kind (a ColumnKind)


def dataset_terms(session: Session, dataset_name: str, version: int | None) -> DatasetTerms:
    """The requestable columns: those of ``version``'s policy, or of the current policy."""
    if version is None:
        dataset, policy_version = dataset_with_policy(session, dataset_name)
    else:
        dataset = get_dataset(session, dataset_name)
        dsv = get_dataset_version(session, dataset, version)
        ensure_releasable(dsv)  # a version waiting for review, or rejected: 409
        policy_version = dsv.policy_version
    policy = parse_policy(
        yaml.safe_load(policy_version.source_text),
        f"dataset {dataset_name!r} policy version {policy_version.version}",
    )
    return DatasetTerms(dataset, policy_version, output_columns(policy))


def _check_columns(requested: Sequence[str], available: Mapping[str, str], dataset: str) -> None:
    seen: set[str] = set()
    for column in requested:
        if column in seen:
            raise InvalidInputError(f"column {column!r} is listed twice", code="duplicate_column")
        seen.add(column)
        if column not in available:
            raise InvalidInputError(
                f"unknown column {column!r}: dataset {dataset!r} offers {', '.join(available)}",
                code="unknown_column",
            )


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    """A request body checked as its submission checks it, before anything is written:
    what :func:`create_request` stores, and what a draft's disclosure preview plans."""

    terms: DatasetTerms
    version: int | None  # None: the latest available
    columns: tuple[str, ...]
    row_filter: str | None  # canonical text
    granularity: str

    @property
    def dataset(self) -> Dataset:
        return self.terms.dataset


def check_request(session: Session, body: RequestIn, now: datetime) -> CheckedRequest:
    """Check a request body against its dataset (columns, row filter, end date): 4xx
    naming what is wrong. Reads only."""
    version = None if body.version == "latest" else int(body.version)
    terms = dataset_terms(session, body.dataset, version)
    _check_columns(body.columns, terms.columns, body.dataset)
    row_filter = None
    if body.row_filter is not None and body.row_filter.strip():
        row_filter = to_text(check_filter(body.row_filter, terms.columns))
    if body.requested_end is not None and body.requested_end < now.date():
        raise InvalidInputError("requested_end is in the past", code="invalid_end")
    return CheckedRequest(
        terms, version, tuple(body.columns), row_filter, body.date_granularity.value
    )


def create_request(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    actor: User,
    *,
    project_id: int,
    body: RequestIn,
    now: datetime,
) -> AccessRequest:
    """A project member asks for columns (and rows) of a dataset."""
    authorized_target(session, policy, actor, Action.REQUEST_CREATE, now, project_id=project_id)
    checked = check_request(session, body, now)
    terms, version, row_filter = checked.terms, checked.version, checked.row_filter
    sensitivity = terms.policy_version.sensitivity
    policy.approvers_needed(sensitivity)  # fail closed on a tier the policy lacks
    request = AccessRequest(
        project_id=project_id,
        requester_id=actor.id,
        dataset_id=terms.dataset.id,
        dataset_version=version,
        policy_version_id=terms.policy_version.id,
        sensitivity=sensitivity,
        columns=json.dumps(list(body.columns)),
        row_filter=row_filter,
        date_granularity=checked.granularity,
        justification=body.justification,
        requested_end=body.requested_end,
        state=RequestState.PENDING,
        created_at=now,
    )
    session.add(request)
    session.flush()
    trail.record(
        session,
        "request.create",
        target_type="request",
        target_id=str(request.id),
        details={
            "project_id": project_id,
            "dataset_id": terms.dataset.id,
            "version": version or "latest",
            "columns": list(body.columns),
            "row_filter": row_filter is not None,
            "sensitivity": sensitivity,
        },
    )
    return request


def get_request(
    session: Session, policy: AccessPolicy, actor: User, *, request_id: int, now: datetime
) -> AccessRequest:
    return authorized_target(
        session, policy, actor, Action.REQUEST_VIEW, now, request_id=request_id
    ).loaded_request


def list_requests(
    session: Session,
    policy: AccessPolicy,
    actor: User,
    now: datetime,
    *,
    project_id: int | None = None,
    state: RequestState | None = None,
) -> list[AccessRequest]:
    """A project's requests (``request.list``), or every project's (``request.queue``)."""
    query = select(AccessRequest).order_by(AccessRequest.id).options(*REQUEST_SHOWN)
    if project_id is None:
        authorize(policy, actor, Action.REQUEST_QUEUE, Target(), now)
    else:
        authorized_target(session, policy, actor, Action.REQUEST_LIST, now, project_id=project_id)
        query = query.where(AccessRequest.project_id == project_id)
    if state is not None:
        query = query.where(AccessRequest.state == state)
    return list(session.scalars(query))


def list_requests_of_projects(
    session: Session, policy: AccessPolicy, actor: User, now: datetime, projects: Sequence[Project]
) -> list[AccessRequest]:
    """The requests of ``projects`` (each checked for ``request.list``), in one query:
    a researcher's page lists every project's requests without a query per project."""
    for project in projects:
        authorize(policy, actor, Action.REQUEST_LIST, Target(project), now)
    if not projects:
        return []
    query = (
        select(AccessRequest)
        .where(AccessRequest.project_id.in_([p.id for p in projects]))
        .order_by(AccessRequest.id)
        .options(*REQUEST_SHOWN)
    )
    return list(session.scalars(query))


def review_request(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    actor: User,
    *,
    request_id: int,
    approve: bool,
    reason: str,
    now: datetime,
) -> AccessRequest:
    """Record one officer's approval or rejection; enough distinct approvals issue a grant.

    One rejection ends the request. The number of approvals needed comes from the policy
    tier of the data's sensitivity, read now (a stricter policy applies to pending work).
    The API, the pages and the CLI review through
    :func:`fivesafes.release.preview.review_with_preview`, which adds the disclosure
    preview's verdict (:func:`review_with_verdict`).
    """
    acting = Acting(session, trail, policy, actor, now)
    return review_with_verdict(acting, request_id=request_id, choice=ReviewChoice(approve, reason))


@dataclass(frozen=True, slots=True)
class ReviewChoice:
    """One officer's decision on a request, and what the disclosure preview said of it."""

    approve: bool
    reason: str
    override_reason: str | None = None  # why approve although the release would be refused
    disclosure: DisclosureVerdict | None = None  # None: no preview was taken


def review_with_verdict(acting: Acting, *, request_id: int, choice: ReviewChoice) -> AccessRequest:
    """:func:`review_request` with the disclosure preview's verdict: approving a request
    whose release would be refused needs the verdict's override reason (422 without one),
    recorded on the review and in the ``request.approve`` audit event."""
    session, trail, policy, actor = acting.writing
    now, approve, reason, disclosure = acting.now, choice.approve, choice.reason, choice.disclosure
    action = Action.REQUEST_APPROVE if approve else Action.REQUEST_REJECT
    target = authorized_target(
        session, policy, actor, action, now, lock=True, request_id=request_id
    )
    request, project = target.loaded_request, target.loaded_project
    if approve and request.dataset_version is not None:
        # A request fixed to one version is approved only while that version is available.
        ensure_releasable(get_dataset_version(session, request.dataset, request.dataset_version))
    override = _override(request, choice)
    review = RequestReview(
        request_id=request.id,
        reviewer_id=actor.id,
        decision=ReviewDecision.APPROVE if approve else ReviewDecision.REJECT,
        reason=reason,
        override_reason=override,
        created_at=now,
    )
    request.reviews.append(review)
    session.flush()
    required = policy.approvers_needed(request.sensitivity)
    approvers = approvals(request)
    details: dict[str, object] = {
        "project_id": project.id,
        "approvals": len(approvers),
        "required": required,
    }
    if approve and disclosure is not None:
        details["disclosure_refused"] = disclosure.refused
        if override is not None:
            # The reason is kept on the review (reasons typed by officers stay in the
            # tables, and audit rows are kept for ever); its digest ties the two.
            details["override_reason_sha256"] = hashlib.sha256(override.encode()).hexdigest()
    if not approve:
        request.state, request.decided_at = RequestState.REJECTED, now
        session.flush()
        trail.record(
            session,
            "request.reject",
            target_type="request",
            target_id=str(request.id),
            details=details,
        )
        return request
    trail.record(
        session,
        "request.approve",
        target_type="request",
        target_id=str(request.id),
        details=details,
    )
    if len(approvers) >= required:
        request.state, request.decided_at = RequestState.APPROVED, now
        _issue_grant(session, trail, policy, request=request, project=project, now=now)
    return request


@dataclass(frozen=True, slots=True)
class DisclosureVerdict:
    """What a request's disclosure preview said, for its approval: whether the release
    would be refused and why (the gate itself is in ``release/``, above this layer)."""

    refused: bool
    refusal: str = ""


class OverrideReasonRequiredError(InvalidInputError):
    """An approval of a request whose release would be refused, without a reason (422)."""

    code = "override_reason_required"


def _override(request: AccessRequest, choice: ReviewChoice) -> str | None:
    """The override reason to record: required when approving against a refusal, not
    recorded otherwise (there is nothing to override)."""
    disclosure = choice.disclosure
    if not choice.approve or disclosure is None or not disclosure.refused:
        return None
    reason = (choice.override_reason or "").strip()
    if len(reason) < 3:
        raise OverrideReasonRequiredError(
            f"override_reason is required: the disclosure preview of request {request.id} "
            f"says its release would be refused ({disclosure.refusal.rstrip('.')}). Reject the "
            "request, or approve it with an override reason (at least 3 characters) saying "
            "why; the gate still applies at every download"
        )
    return reason


def grant_expiry(
    policy: AccessPolicy, project: Project, requested_end: date | None, now: datetime
) -> datetime:
    """The earliest of: the end of the project's last day, now + the policy maximum, and
    the end of the requested last day."""

    def end_of(day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)

    candidates = [end_of(project.end_date), now + timedelta(days=policy.grants.max_duration_days)]
    if requested_end is not None:
        candidates.append(end_of(requested_end))
    return min(candidates)


def _issue_grant(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    *,
    request: AccessRequest,
    project: Project,
    now: datetime,
) -> Grant:
    grant = Grant(
        request=request,  # also sets request.grant, which the response shows
        project_id=project.id,
        dataset_id=request.dataset_id,
        dataset_version=request.dataset_version,
        columns=request.columns,
        row_filter=request.row_filter,
        date_granularity=request.date_granularity,
        issued_at=now,
        expires_at=grant_expiry(policy, project, request.requested_end, now),
    )
    session.add(grant)
    session.flush()
    trail.record(
        session,
        "grant.issue",
        target_type="grant",
        target_id=str(grant.id),
        details={
            "request_id": request.id,
            "project_id": project.id,
            "approvers": sorted(approvals(request)),
            "expires_at": grant.expires_at.isoformat(),
        },
    )
    return grant
