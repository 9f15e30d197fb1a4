"""What a crate says, as plain data: read from the records the platform already keeps.

The metadata builder works from these frozen values, never from the ORM, so it can be
tested from fixture objects and can never lazy-load (or leak) anything it was not given.
People are their platform usernames (and user ids where the platform has them): no
e-mail or other identifier leaves in a crate. An upload's file name is left out — staff
choose it and it could name a patient.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.access.models import Grant, Project
from fivesafes.closeout import records as closeout_records
from fivesafes.datasets.models import DatasetVersion, Upload
from fivesafes.identity.models import User
from fivesafes.release.manifest import manifest_view
from fivesafes.release.models import Release
from fivesafes.release.retained_models import ReleaseCopy
from fivesafes.release.writers import MEDIA_TYPES


@dataclass(frozen=True, slots=True)
class Person:
    """A platform user as a crate names them: username, and the user id when known."""

    username: str
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    id: int
    title: str
    purpose: str
    lay_summary: str
    lawful_basis: str
    special_category_condition: str
    ethics_ref: str
    dsa_ref: str
    start_date: date
    end_date: date
    state: str
    lead: Person
    members: tuple[Person, ...]
    decided_by: Person | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReviewFacts:
    """One governance officer's review of the access request."""

    id: int
    reviewer: Person
    decision: str  # approve | reject
    at: datetime
    override: bool  # approved although the disclosure preview refused


@dataclass(frozen=True, slots=True)
class GrantFacts:
    """The grant and the access request whose approval issued it."""

    id: int
    request_id: int
    requester: Person
    requested_at: datetime
    request_state: str
    request_decided_at: datetime | None
    reviews: tuple[ReviewFacts, ...]
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UploadFacts:
    """Where a dataset version came from (the upload's file name is deliberately absent)."""

    id: str
    received_at: datetime
    uploaded_by: Person | None
    source_sha256: str | None


@dataclass(frozen=True, slots=True)
class CopyDestruction:
    """The platform's own retained copy of a release, destroyed."""

    destroyed_at: datetime
    destroyed_by: Person | None  # None: the platform itself ("system")
    reason: str


@dataclass(frozen=True, slots=True)
class ReleaseFacts:
    id: uuid.UUID
    created_at: datetime
    completed_at: datetime | None
    state: str
    file_name: str
    media_type: str
    sha256: str | None
    byte_count: int | None
    recipient: Person
    manifest: dict[str, Any]  # manifest_view: the stored manifest with the content hash
    grant: GrantFacts
    version_created_at: datetime
    sensitivity: str
    upload: UploadFacts | None
    attestations: tuple[dict[str, Any], ...] = ()  # closeout.records.attestation_record
    copy_destruction: CopyDestruction | None = None


@dataclass(frozen=True, slots=True)
class CrateFacts:
    """Everything one crate describes: the project and the releases it covers."""

    project: ProjectFacts
    releases: tuple[ReleaseFacts, ...]
    tre_name: str = "fivesafes trusted research environment"


def release_file_name(release: Release) -> str:
    """The name the release was served under (as ``PreparedRelease.filename``)."""
    return f"grant-{release.grant_id}-release-{str(release.id)[:8]}.{release.file_format.value}"


class _Names:
    """User id -> Person, looked up once per crate."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._known: dict[str, Person] = {}

    def of(self, user_id: uuid.UUID | str | None) -> Person | None:
        if user_id is None:
            return None
        key = str(user_id)
        if key not in self._known:
            try:
                uid = uuid.UUID(key)
            except ValueError:
                return None  # "system" or another non-user actor
            name = self._session.scalar(select(User.username).where(User.id == uid))
            self._known[key] = Person(name or "unknown user", key)
        return self._known[key]

    def required(self, user_id: uuid.UUID | str) -> Person:
        found = self.of(user_id)
        assert found is not None
        return found


def _project(project: Project, names: _Names) -> ProjectFacts:
    members = sorted((names.required(m.user_id) for m in project.members), key=_by_name)
    return ProjectFacts(
        id=project.id,
        title=project.title,
        purpose=project.purpose,
        lay_summary=project.lay_summary,
        lawful_basis=project.lawful_basis,
        special_category_condition=project.special_category_condition,
        ethics_ref=project.ethics_ref,
        dsa_ref=project.dsa_ref,
        start_date=project.start_date,
        end_date=project.end_date,
        state=str(project.state),
        lead=names.required(project.lead_id),
        members=tuple(members),
        decided_by=names.of(project.decided_by),
        decided_at=project.decided_at,
    )


def _by_name(person: Person) -> str:
    return person.username


def _grant(session: Session, grant_id: int, names: _Names) -> GrantFacts:
    grant = session.get(Grant, grant_id)
    assert grant is not None
    request = grant.request
    return GrantFacts(
        id=grant.id,
        request_id=request.id,
        requester=names.required(request.requester_id),
        requested_at=request.created_at,
        request_state=str(request.state),
        request_decided_at=request.decided_at,
        reviews=tuple(
            ReviewFacts(
                id=r.id,
                reviewer=names.required(r.reviewer_id),
                decision=str(r.decision),
                at=r.created_at,
                override=r.override_reason is not None,
            )
            for r in request.reviews
        ),
        issued_at=grant.issued_at,
        expires_at=grant.expires_at,
        revoked_at=grant.revoked_at,
    )


def _release(session: Session, release: Release, names: _Names) -> ReleaseFacts:
    version = session.get(DatasetVersion, release.dataset_version_id)
    assert version is not None
    upload_row = session.scalars(
        select(Upload).where(Upload.dataset_version_id == version.id).order_by(Upload.created_at)
    ).first()
    upload = None
    if upload_row is not None:
        upload = UploadFacts(
            id=str(upload_row.id),
            received_at=upload_row.created_at,
            uploaded_by=names.of(upload_row.uploaded_by),
            source_sha256=upload_row.source_sha256,
        )
    copy = session.get(ReleaseCopy, release.id)
    destruction = None
    if copy is not None and copy.destroyed_at is not None:
        destruction = CopyDestruction(
            destroyed_at=copy.destroyed_at,
            destroyed_by=names.of(copy.destroyed_by),
            reason=copy.destruction_reason or "",
        )
    attestations = tuple(
        json.loads(json.dumps(closeout_records.attestation_record(a), default=str))
        for a in closeout_records.accepted_attestations(session, release.project_id, release.id)
    )
    return ReleaseFacts(
        id=release.id,
        created_at=release.created_at,
        completed_at=release.completed_at,
        state=str(release.state),
        file_name=release_file_name(release),
        media_type=MEDIA_TYPES[release.file_format],
        sha256=release.content_sha256,
        byte_count=release.byte_count,
        recipient=names.required(release.user_id),
        manifest=manifest_view(release),
        grant=_grant(session, release.grant_id, names),
        version_created_at=version.created_at,
        sensitivity=version.policy_version.sensitivity,
        upload=upload,
        attestations=attestations,
        copy_destruction=destruction,
    )


def release_crate_facts(session: Session, release: Release, tre_name: str) -> CrateFacts:
    """The facts of one release's crate (the caller checked who may see it)."""
    names = _Names(session)
    project = session.get(Project, release.project_id)
    assert project is not None
    return CrateFacts(_project(project, names), (_release(session, release, names),), tre_name)


def project_crate_facts(session: Session, project: Project, tre_name: str) -> CrateFacts:
    """The facts of a project's crate: every release of the project, oldest first."""
    names = _Names(session)
    query = select(Release).where(Release.project_id == project.id)
    releases = session.scalars(query.order_by(Release.created_at, Release.id))
    return CrateFacts(
        _project(project, names),
        tuple(_release(session, r, names) for r in releases),
        tre_name,
    )
