"""Project close-out: start closing, submit and review destruction attestations, close.

Every write locks the project's row first (``FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers anyway), so two officers accepting the last two
attestations at once, or the sweep and a lead closing early, cannot both act on a stale
state: the second sees what the first did. Access goes through ``decide`` like every
other action (roles and scopes from ``policies/access.yaml``; separation of duties and
the states are fixed rules there). Services flush; the caller's transaction commits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fivesafes.access.acting import Acting
from fivesafes.access.decide import AttestationFacts, Resource
from fivesafes.access.facts import authorize_resource, project_facts
from fivesafes.access.models import Project, ProjectState
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.audit.trail import AuditTrail
from fivesafes.closeout import rules
from fivesafes.closeout.models import AttestationState, DestructionAttestation
from fivesafes.errors import ConflictError, InvalidInputError, NotFoundError
from fivesafes.identity.models import User
from fivesafes.release.models import Release
from fivesafes.release.retained import destroy_project_copies


def authorize_closeout(
    policy: AccessPolicy,
    user: User,
    action: Action,
    project: Project | None,
    now: datetime,
    attestation: DestructionAttestation | None = None,
) -> None:
    facts = (
        AttestationFacts(
            id=attestation.id,
            submitted_by=str(attestation.submitted_by),
            awaiting_review=attestation.state is AttestationState.SUBMITTED,
        )
        if attestation is not None
        else None
    )
    resource = Resource(
        project=project_facts(project) if project is not None else None, attestation=facts
    )
    authorize_resource(policy, user, action, resource, now)


def _locked_project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id, with_for_update=True, populate_existing=True)
    if project is None:
        raise NotFoundError(f"no project {project_id}", code="project_not_found")
    return project


def releases_of(session: Session, project_id: int) -> list[Release]:
    return list(
        session.scalars(
            select(Release).where(Release.project_id == project_id).order_by(Release.created_at)
        )
    )


def attestations_of(session: Session, project_id: int) -> list[DestructionAttestation]:
    return list(
        session.scalars(
            select(DestructionAttestation)
            .where(DestructionAttestation.project_id == project_id)
            .order_by(DestructionAttestation.id)
        )
    )


def outstanding_releases(session: Session, project_id: int) -> list[uuid.UUID]:
    """Releases of the project that still lack an accepted attestation."""
    accepted = [
        a.release_id
        for a in attestations_of(session, project_id)
        if a.state is AttestationState.ACCEPTED
    ]
    pairs = [(r.id, r.state.value) for r in releases_of(session, project_id)]
    return rules.outstanding(pairs, accepted)


# --- closing ------------------------------------------------------------------------------


def begin_closing(
    session: Session,
    trail: AuditTrail,
    project_id: int,
    *,
    reason: str,
    requested_by: str,
    trigger: Literal["end_date", "request"],
    now: datetime,
    copies_folder: Path,
) -> bool:
    """ACTIVE -> CLOSING, once: a conditional update, so a second server (or a second
    click) finds nothing to do and records nothing. True if this call did it.

    ``reason`` is kept on the project and never audited (free text); the audit says only
    whether the end date or a request did it. A project with no releases closes at once.
    """
    moved = session.execute(
        update(Project)
        .where(Project.id == project_id, Project.state == ProjectState.ACTIVE)
        .values(
            state=ProjectState.CLOSING,
            closing_at=now,
            closing_reason=reason,
            closing_requested_by=requested_by[:64],
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    project = _locked_project(session, project_id)
    trail.record(
        session,
        "project.closing",
        target_type="project",
        target_id=str(project.id),
        details={
            "trigger": trigger,
            "end_date": project.end_date.isoformat(),
            "releases_outstanding": len(outstanding_releases(session, project.id)),
        },
    )
    _close_if_done(session, trail, project, now, copies_folder)
    return True


def request_close(acting: Acting, *, project_id: int, reason: str, copies_folder: Path) -> Project:
    """Close a project early (the lead or a governance officer, with a reason)."""
    if not reason.strip():
        raise InvalidInputError("reason: say why the project closes early", code="invalid_reason")
    project = _locked_project(acting.session, project_id)
    authorize_closeout(acting.policy, acting.user, Action.PROJECT_CLOSE, project, acting.now)
    begin_closing(
        acting.session,
        acting.trail,
        project_id,
        reason=reason.strip(),
        requested_by=str(acting.user.id),
        trigger="request",
        now=acting.now,
        copies_folder=copies_folder,
    )
    return _locked_project(acting.session, project_id)


def _close_if_done(
    session: Session, trail: AuditTrail, project: Project, now: datetime, copies_folder: Path
) -> None:
    """CLOSING -> CLOSED when no release lacks an accepted attestation; then the
    platform's own retained copies of the project's releases are destroyed too."""
    if project.state is not ProjectState.CLOSING or outstanding_releases(session, project.id):
        return
    project.state = ProjectState.CLOSED
    project.closed_at = now
    session.flush()
    trail.record(
        session,
        "project.closed",
        target_type="project",
        target_id=str(project.id),
        details={"attestations_accepted": len(accepted_ids(session, project.id))},
    )
    destroy_project_copies(
        session, copies_folder, project.id, actor="system", reason="project closed", trail=trail
    )


def accepted_ids(session: Session, project_id: int) -> list[int]:
    return [
        a.id for a in attestations_of(session, project_id) if a.state is AttestationState.ACCEPTED
    ]


# --- attestations -------------------------------------------------------------------------


def submit_attestations(
    acting: Acting,
    *,
    project_id: int,
    release_ids: Sequence[uuid.UUID],
    content: rules.AttestationContent,
) -> list[DestructionAttestation]:
    """The lead's signed attestation, the same content for each release named."""
    session = acting.session
    project = _locked_project(session, project_id)
    authorize_closeout(acting.policy, acting.user, Action.ATTESTATION_SUBMIT, project, acting.now)
    if not release_ids:
        raise InvalidInputError("release_ids: name at least one release", code="invalid_releases")
    if len(set(release_ids)) != len(release_ids):
        raise InvalidInputError("release_ids: a release is named twice", code="invalid_releases")
    releases = {r.id: r for r in releases_of(session, project_id)}
    pending = {
        a.release_id
        for a in attestations_of(session, project_id)
        if a.state is not AttestationState.REJECTED
    }
    made = []
    for position, release_id in enumerate(release_ids):
        release = releases.get(release_id)
        if release is None:
            raise InvalidInputError(
                f"release_ids[{position}]: not a release of project {project_id}",
                code="invalid_releases",
            )
        if release_id in pending:
            raise ConflictError(
                f"release_ids[{position}]: that release already has an attestation submitted "
                "or accepted (only a rejected one may be submitted again)",
                code="attestation_exists",
            )
        rules.check_destroyed_on(content.destroyed_on, release.created_at.date(), acting.now)
        made.append(_new_attestation(acting, project_id, release_id, content))
    session.flush()
    for attestation in made:
        _record(acting.trail, session, "attestation.submitted", attestation)
    return made


def _record(
    trail: AuditTrail, session: Session, action: str, attestation: DestructionAttestation
) -> None:
    """An attestation's event: ids and the attested content's hash, never its free text."""
    trail.record(
        session,
        action,
        target_type="destruction_attestation",
        target_id=str(attestation.id),
        details={
            "project_id": attestation.project_id,
            "release_id": str(attestation.release_id),
            "content_sha256": attestation.content_sha256,
        },
    )


def _new_attestation(
    acting: Acting, project_id: int, release_id: uuid.UUID, content: rules.AttestationContent
) -> DestructionAttestation:
    document = rules.attested_document(content, project_id=project_id, release_id=release_id)
    attestation = DestructionAttestation(
        project_id=project_id,
        release_id=release_id,
        destroyed_by=content.destroyed_by,
        destroyed_on=content.destroyed_on,
        method=content.method,
        copies=json.dumps(list(content.copies)),
        declaration=content.declaration,
        signed_name=content.signed_name,
        content_sha256=rules.content_sha256(document),
        submitted_by=acting.user.id,
        submitted_at=acting.now,
        state=AttestationState.SUBMITTED,
    )
    acting.session.add(attestation)
    return attestation


@dataclass(frozen=True, slots=True)
class Review:
    accept: bool
    reason: str | None = None


def review_attestation(
    acting: Acting, *, attestation_id: int, review: Review, copies_folder: Path
) -> DestructionAttestation:
    """Accept or reject (with a reason); the last acceptance closes the project."""
    session = acting.session
    found = session.get(DestructionAttestation, attestation_id)
    if found is None:
        raise NotFoundError(f"no attestation {attestation_id}", code="attestation_not_found")
    project = _locked_project(session, found.project_id)
    session.refresh(found)  # read after the lock: another officer may just have decided
    reason = (review.reason or "").strip() or None
    if not review.accept and reason is None:
        raise InvalidInputError(
            "reason: say why the attestation is rejected", code="invalid_reason"
        )
    authorize_closeout(
        acting.policy, acting.user, Action.ATTESTATION_REVIEW, project, acting.now, found
    )
    found.state = AttestationState.ACCEPTED if review.accept else AttestationState.REJECTED
    found.reviewed_by, found.reviewed_at, found.review_reason = acting.user.id, acting.now, reason
    session.flush()
    _record(
        acting.trail,
        session,
        "attestation.accepted" if review.accept else "attestation.rejected",
        found,
    )
    if review.accept:
        _close_if_done(session, acting.trail, project, acting.now, copies_folder)
    return found


def attestation_queue(
    session: Session, policy: AccessPolicy, user: User, now: datetime, state: AttestationState
) -> list[DestructionAttestation]:
    """Attestations in ``state`` (governance's queue: ``submitted``), oldest first."""
    authorize_closeout(policy, user, Action.ATTESTATION_QUEUE, None, now)
    return list(
        session.scalars(
            select(DestructionAttestation)
            .where(DestructionAttestation.state == state)
            .order_by(DestructionAttestation.submitted_at, DestructionAttestation.id)
        )
    )
