"""Re-identification requests: raised by a researcher, approved by two officers, executed
once by a re-identifier, who then records what was done.

Every rule is here, not in the entry points (API, pages, CLI), so they cannot drift apart;
each refusal has its own error code, and the entry points audit refusals. What is audited
on success names patients only by :func:`pseudonym_hash` of their project pseudonym: never
an NHS number, never the free text of a justification or an action (which may carry
clinical detail). The NHS numbers exist only in the return value of :func:`execute`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.access.facts import authorize, load_target
from fivesafes.access.models import Grant, ReviewDecision
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.models import DatasetVersion
from fivesafes.datasets.service import parsed_policy
from fivesafes.db import utcnow
from fivesafes.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from fivesafes.identity.models import Role, User
from fivesafes.keys.reid_blob import record_aad
from fivesafes.keys.store import KeyStore
from fivesafes.reidentification.models import (
    ReidentificationApproval,
    ReidentificationRecord,
    ReidentificationRequest,
    ReidentificationSubject,
    ReidState,
)
from fivesafes.reidentification.report import ReversalRow, reversal_rows
from fivesafes.reidentification.reverse import Resolver
from fivesafes.release.models import Release

MAX_SUBJECTS = 5
REQUEST_LIFETIME = timedelta(days=14)
APPROVALS_NEEDED = 2
MIN_JUSTIFICATION = 20
EXPIRED = "expired"
TARGET = "reidentification_request"
_HASH_PREFIX = b"fivesafes/reid/v1/"
#: One message for every reason a pseudonym is refused: not in the release, another
#: project's, malformed, no record. Telling them apart would let a researcher fish.
SUBJECT_NOT_FOUND = "a project pseudonym given is not a patient of this release"
#: Where a re-identifier works: requests approved for them, and those they executed.
_FOR_REIDENTIFIER = (ReidState.APPROVED, ReidState.EXECUTED, ReidState.ACTIONED)


@dataclass(frozen=True, slots=True)
class NewRequest:
    """What a researcher asks for (the grant and release the pseudonyms came from)."""

    grant_id: int
    release_id: uuid.UUID
    project_pseudonyms: tuple[str, ...]
    purpose: str
    justification: str


@dataclass(frozen=True, slots=True)
class RevealedSubject:
    """One patient revealed at execution: returned once, never stored, never logged."""

    project_pseudonym: str
    nhs_number: str

    def __repr__(self) -> str:  # a stray log line or traceback must not show the number
        return f"RevealedSubject(project_pseudonym={self.project_pseudonym!r}, nhs_number=...)"


def pseudonym_hash(project_pseudonym: str) -> str:
    """What audit events and the report name a subject by: links events about one patient
    without writing the pseudonym a researcher holds."""
    return hashlib.sha256(_HASH_PREFIX + project_pseudonym.encode("utf-8")).hexdigest()


def effective_state(request: ReidentificationRequest, now: datetime) -> str:
    """The state as people see it: a pending or approved request past its expiry is
    ``expired`` (computed, never stored)."""
    if request.state in (ReidState.PENDING, ReidState.APPROVED) and now >= request.expires_at:
        return EXPIRED
    return request.state.value


def _month_start(now: datetime) -> datetime:
    utc = now.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


# ------------------------------------------------------------------------------ request


def _check_input(new: NewRequest, purposes: tuple[str, ...]) -> None:
    if new.purpose not in purposes:
        raise InvalidInputError(
            f"purpose {new.purpose!r} is not one this dataset's policy allows "
            f"({', '.join(purposes)})",
            code="reidentification_purpose_not_allowed",
        )
    count = len(new.project_pseudonyms)
    if not 1 <= count <= MAX_SUBJECTS:
        raise InvalidInputError(
            f"a request names 1 to {MAX_SUBJECTS} project pseudonyms, not {count}",
            code="reidentification_subject_count",
        )
    if len(set(new.project_pseudonyms)) != count:
        raise InvalidInputError(
            "a project pseudonym is named twice", code="reidentification_duplicate_subject"
        )
    if len(new.justification.strip()) < MIN_JUSTIFICATION:
        raise InvalidInputError(
            f"the justification must be at least {MIN_JUSTIFICATION} characters",
            code="reidentification_justification_too_short",
        )


def _used_this_month(session: Session, project_id: int, dataset_id: int, now: datetime) -> int:
    """Subjects of the project's requests on the dataset since the 1st (UTC), any state."""
    query = (
        select(func.count())
        .select_from(ReidentificationSubject)
        .join(ReidentificationRequest)
        .where(
            ReidentificationRequest.project_id == project_id,
            ReidentificationRequest.dataset_id == dataset_id,
            ReidentificationRequest.created_at >= _month_start(now),
        )
    )
    return int(session.scalar(query) or 0)


def create_request(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    keystore: KeyStore,
    user: User,
    new: NewRequest,
    now: datetime,
) -> ReidentificationRequest:
    """A researcher's request to reverse pseudonyms of a release of their project's grant.

    Checked in this order: role, project membership (``grant.view``), the release belongs
    to the grant, the dataset allows re-identification, the input, the monthly limit
    (before resolving, so a researcher over the limit cannot probe pseudonyms either), and
    last each pseudonym is resolved to a patient of the release.
    """
    if user.role is not Role.RESEARCHER:
        raise PermissionDeniedError(
            "only a researcher on the project raises a re-identification request",
            code="reidentification_researchers_only",
        )
    target = load_target(session, grant_id=new.grant_id)
    authorize(policy, user, Action.GRANT_VIEW, target, now)
    grant: Grant = target.loaded_grant
    release = session.get(Release, new.release_id)
    if release is None or release.grant_id != grant.id:
        raise NotFoundError(
            f"grant {grant.id} has no release {new.release_id}",
            code="reidentification_release_not_found",
        )
    version = session.get(DatasetVersion, release.dataset_version_id)
    assert version is not None  # foreign key
    options = parsed_policy(version.policy_version).reidentification
    if not options.allowed:
        raise ConflictError(
            f"dataset {version.dataset.name!r} version {version.number}'s policy does not "
            "allow re-identification",
            code="reidentification_not_allowed",
        )
    _check_input(new, tuple(options.purposes))
    used = _used_this_month(session, grant.project_id, version.dataset_id, now)
    limit = options.monthly_limit_per_project
    if used + len(new.project_pseudonyms) > limit:
        raise RateLimitedError(
            f"project {grant.project_id} may have {limit} subject(s) re-identified from "
            f"dataset {version.dataset.name!r} per calendar month; {used} already asked for "
            "this month",
            code="reidentification_limit_reached",
        )
    resolver = Resolver(session, keystore, release, version)
    records: list[ReidentificationRecord] = []
    for value in new.project_pseudonyms:
        record = resolver.resolve(value)
        if record is None:
            raise NotFoundError(SUBJECT_NOT_FOUND, code="reidentification_subject_not_found")
        records.append(record)
    request = ReidentificationRequest(
        project_id=grant.project_id,
        grant_id=grant.id,
        release_id=release.id,
        dataset_id=version.dataset_id,
        requester_id=user.id,
        purpose=new.purpose,
        justification=new.justification.strip(),
        state=ReidState.PENDING,
        created_at=now,
        expires_at=now + REQUEST_LIFETIME,
    )
    hashes = [pseudonym_hash(v) for v in new.project_pseudonyms]
    for position, (value, digest, record) in enumerate(
        zip(new.project_pseudonyms, hashes, records, strict=True), start=1
    ):
        request.subjects.append(
            ReidentificationSubject(
                position=position,
                project_pseudonym=value,
                pseudonym_hash=digest,
                record_id=record.id,
            )
        )
    session.add(request)
    session.flush()
    trail.record(
        session,
        "reidentification.request",
        target_type=TARGET,
        target_id=str(request.id),
        details={
            "project_id": grant.project_id,
            "grant_id": grant.id,
            "release_id": str(release.id),
            "dataset": version.dataset.name,
            "dataset_version": version.number,
            "purpose": new.purpose,
            "subjects": len(records),
            "pseudonym_hashes": hashes,
        },
    )
    return request


# ------------------------------------------------------------------------------ decisions


def _load(session: Session, request_id: int, *, lock: bool = False) -> ReidentificationRequest:
    request = session.get(ReidentificationRequest, request_id, with_for_update=lock or None)
    if request is None:
        raise NotFoundError(
            f"no re-identification request {request_id}",
            code="reidentification_request_not_found",
        )
    return request


def _decidable(
    user: User, request_id: int, session: Session, now: datetime
) -> ReidentificationRequest:
    """The request an officer may decide now (locked: two officers deciding at once are
    serialised, so neither decision is lost)."""
    if user.role is not Role.GOVERNANCE or not user.is_active:
        raise PermissionDeniedError(
            "only an active governance officer decides a re-identification request",
            code="reidentification_governance_only",
        )
    request = _load(session, request_id, lock=True)
    if request.requester_id == user.id:
        raise PermissionDeniedError(
            "nobody decides their own re-identification request",
            code="reidentification_own_request",
        )
    _require_state(
        request,
        ReidState.PENDING,
        now,
        otherwise=(f"is {request.state.value}, not pending", "reidentification_not_pending"),
        expired="expired; the researcher may raise a new one",
    )
    if any(a.approver_id == user.id for a in request.approvals):
        raise ConflictError(
            f"you already decided re-identification request {request.id}",
            code="already_reviewed",
        )
    return request


#: Why a request in each state cannot be executed (any other: not approved yet).
_EXECUTE_REFUSALS = {
    ReidState.EXECUTED: ("was already executed", "reidentification_already_executed"),
    ReidState.ACTIONED: ("was already executed", "reidentification_already_executed"),
    ReidState.REJECTED: ("was rejected", "reidentification_rejected"),
}


def _require_state(
    request: ReidentificationRequest,
    wanted: ReidState,
    now: datetime,
    *,
    otherwise: tuple[str, str],
    expired: str,
) -> None:
    """Refuse a request not in ``wanted`` (``otherwise``: what to say, with its code), or
    past its expiry: the one ladder both decisions and execution climb, so the expiry
    check cannot be forgotten by one of them."""
    if request.state is not wanted:
        message, code = otherwise
        raise ConflictError(f"re-identification request {request.id} {message}", code=code)
    if now >= request.expires_at:
        raise ConflictError(
            f"re-identification request {request.id} {expired}", code="reidentification_expired"
        )


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInputError(
            "a decision needs a reason", code="reidentification_reason_required"
        )
    return reason


def approve(
    session: Session,
    trail: AuditTrail,
    settings_require_cg: bool,
    user: User,
    request_id: int,
    reason: str,
    now: datetime,
) -> ReidentificationRequest:
    """One officer's approval; the second distinct one approves the request, provided
    (when ``settings_require_cg``) one of the two officers is a Caldicott Guardian. A
    second approval without one is refused and nothing is recorded."""
    reason = _reason(reason)
    request = _decidable(user, request_id, session, now)
    earlier = [a for a in request.approvals if a.decision is ReviewDecision.APPROVE]
    number = len(earlier) + 1
    guardian = user.caldicott_guardian or any(a.caldicott_guardian for a in earlier)
    if number >= APPROVALS_NEEDED and settings_require_cg and not guardian:
        raise PermissionDeniedError(
            "the second approval of a re-identification request must come from a "
            "Caldicott Guardian when the first did not",
            code="caldicott_guardian_required",
        )
    request.approvals.append(
        ReidentificationApproval(
            approver_id=user.id,
            decision=ReviewDecision.APPROVE,
            caldicott_guardian=user.caldicott_guardian,
            reason=reason,
            created_at=now,
        )
    )
    if number >= APPROVALS_NEEDED:
        request.state = ReidState.APPROVED
        request.decided_at = now
    session.flush()
    trail.record(
        session,
        "reidentification.approve",
        target_type=TARGET,
        target_id=str(request.id),
        details={
            "project_id": request.project_id,
            "approval": number,
            "of": APPROVALS_NEEDED,
            "caldicott_guardian": user.caldicott_guardian,
            "state": request.state.value,
        },
    )
    return request


def reject(
    session: Session,
    trail: AuditTrail,
    user: User,
    request_id: int,
    reason: str,
    now: datetime,
) -> ReidentificationRequest:
    """One officer's rejection ends the request: it can never be executed."""
    reason = _reason(reason)
    request = _decidable(user, request_id, session, now)
    approvals_before = sum(1 for a in request.approvals if a.decision is ReviewDecision.APPROVE)
    request.approvals.append(
        ReidentificationApproval(
            approver_id=user.id,
            decision=ReviewDecision.REJECT,
            caldicott_guardian=user.caldicott_guardian,
            reason=reason,
            created_at=now,
        )
    )
    request.state = ReidState.REJECTED
    request.decided_at = now
    session.flush()
    trail.record(
        session,
        "reidentification.reject",
        target_type=TARGET,
        target_id=str(request.id),
        details={
            "project_id": request.project_id,
            "approvals_before": approvals_before,
            "caldicott_guardian": user.caldicott_guardian,
        },
    )
    return request


# ------------------------------------------------------------------------------ execution


def execute(
    session: Session,
    trail: AuditTrail,
    keystore: KeyStore,
    user: User,
    request_id: int,
    now: datetime,
    channel: Literal["api", "web"],
) -> list[RevealedSubject]:
    """Decrypt the NHS numbers of an approved request, once. The caller shows them to the
    re-identifier and keeps them nowhere; the request is ``executed`` and both the
    execution and the view are audited in this transaction (no view without its record)."""
    if user.role is not Role.REIDENTIFIER or not user.is_active:
        raise PermissionDeniedError(
            "only an active re-identifier executes a re-identification request",
            code="reidentification_reidentifiers_only",
        )
    request = _load(session, request_id, lock=True)
    _require_state(
        request,
        ReidState.APPROVED,
        now,
        otherwise=_EXECUTE_REFUSALS.get(
            request.state, ("is not approved yet", "reidentification_not_approved")
        ),
        expired="expired before it was executed",
    )
    revealed = []
    for subject in request.subjects:
        record = subject.record
        aad = record_aad(record.dataset_id, record.pseudonym_generation, record.pseudonym)
        plaintext = keystore.reidentification_open(record.ciphertext, aad)
        revealed.append(RevealedSubject(subject.project_pseudonym, plaintext.decode("ascii")))
    request.state = ReidState.EXECUTED
    request.executed_by = user.id
    request.executed_at = now
    session.flush()
    hashes = [s.pseudonym_hash for s in request.subjects]
    common = {"project_id": request.project_id, "subjects": len(hashes)}
    trail.record(
        session,
        "reidentification.execute",
        target_type=TARGET,
        target_id=str(request.id),
        details={**common, "dataset_id": request.dataset_id, "pseudonym_hashes": hashes},
    )
    trail.record(
        session,
        "reidentification.view",
        target_type=TARGET,
        target_id=str(request.id),
        details={**common, "channel": channel},
    )
    return revealed


def record_action(
    session: Session,
    trail: AuditTrail,
    user: User,
    request_id: int,
    action_taken: str,
    now: datetime,
) -> ReidentificationRequest:
    """What the re-identifier who executed the request did with it (once)."""
    request = _load(session, request_id, lock=True)
    if request.executed_by is None or request.executed_by != user.id or not user.is_active:
        raise PermissionDeniedError(
            "only the re-identifier who executed a request records the action taken",
            code="reidentification_executor_only",
        )
    if request.state is not ReidState.EXECUTED:
        raise ConflictError(
            f"re-identification request {request.id} is {request.state.value}: the action "
            "is recorded once, after execution",
            code="reidentification_not_executed",
        )
    text = action_taken.strip()
    if not text:
        raise InvalidInputError(
            "say what action was taken", code="reidentification_action_required"
        )
    request.action_taken = text
    request.action_recorded_at = now
    request.state = ReidState.ACTIONED
    session.flush()
    trail.record(
        session,
        "reidentification.action",
        target_type=TARGET,
        target_id=str(request.id),
        details={"project_id": request.project_id, "subjects": len(request.subjects)},
    )
    return request


# ------------------------------------------------------------------------------ reading


def _researcher_may_see(
    session: Session,
    policy: AccessPolicy,
    user: User,
    request: ReidentificationRequest,
    now: datetime,
) -> bool:
    try:
        authorize(
            policy, user, Action.GRANT_VIEW, load_target(session, grant_id=request.grant_id), now
        )
    except PermissionDeniedError:
        return False
    return True


def _check_active(user: User) -> None:
    if not user.is_active:
        raise PermissionDeniedError("the account is disabled", code="denied_subject_disabled")


def list_requests(
    session: Session, policy: AccessPolicy, user: User, *, now: datetime | None = None
) -> list[ReidentificationRequest]:
    """Newest first: every request for governance; approved and later ones for a
    re-identifier; a researcher's own projects' requests (``grant.view``)."""
    now = now or utcnow()
    query = select(ReidentificationRequest).order_by(ReidentificationRequest.id.desc())
    _check_active(user)
    if user.role is Role.GOVERNANCE:
        return list(session.scalars(query))
    if user.role is Role.REIDENTIFIER:
        return list(
            session.scalars(query.where(ReidentificationRequest.state.in_(_FOR_REIDENTIFIER)))
        )
    if user.role is Role.RESEARCHER:
        return [
            r for r in session.scalars(query) if _researcher_may_see(session, policy, user, r, now)
        ]
    raise PermissionDeniedError(
        f"role {user.role.value!r} has no re-identification requests",
        code="reidentification_forbidden",
    )


def get_request(
    session: Session,
    policy: AccessPolicy,
    user: User,
    request_id: int,
    now: datetime | None = None,
) -> ReidentificationRequest:
    """One request, for whoever :func:`list_requests` would show it to (403 otherwise;
    a re-identifier is told a request not yet approved does not exist)."""
    now = now or utcnow()
    _check_active(user)
    request = _load(session, request_id)
    if user.role is Role.GOVERNANCE:
        return request
    if user.role is Role.REIDENTIFIER:
        if request.state not in _FOR_REIDENTIFIER:
            raise NotFoundError(
                f"no re-identification request {request_id}",
                code="reidentification_request_not_found",
            )
        return request
    if user.role is Role.RESEARCHER:
        authorize(
            policy, user, Action.GRANT_VIEW, load_target(session, grant_id=request.grant_id), now
        )
        return request
    raise PermissionDeniedError(
        f"role {user.role.value!r} has no re-identification requests",
        code="reidentification_forbidden",
    )


def reversal_report(session: Session, since: date | None, until: date | None) -> list[ReversalRow]:
    """Every executed reversal (by execution date, UTC, both ends inclusive), for the
    annual information-governance audit."""
    return reversal_rows(session, since, until)
