"""Where a project's close-out stands: each release with its latest attestation, and
whether the project is overdue. What the API's ``GET /projects/{id}/closeout``, the
project page and the governance home page show."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.access.models import Project, ProjectState
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.closeout import rules
from fivesafes.closeout.models import AttestationState, DestructionAttestation
from fivesafes.closeout.service import attestations_of, authorize_closeout, releases_of
from fivesafes.errors import NotFoundError
from fivesafes.identity.models import User
from fivesafes.release.models import Release


@dataclass(frozen=True, slots=True)
class ReleaseCloseout:
    release: Release
    needs_attestation: bool
    latest: DestructionAttestation | None  # the newest submission for the release

    @property
    def status(self) -> str:
        """``missing`` (none yet, or only rejected ones: the lead must submit) or the
        latest attestation's state."""
        if self.latest is None:
            return "missing"
        return self.latest.state.value

    @property
    def outstanding(self) -> bool:
        """The lead still has to submit one (nothing pending review, nothing accepted)."""
        return self.needs_attestation and self.status in ("missing", "rejected")


@dataclass(frozen=True, slots=True)
class CloseoutStatus:
    project: Project
    releases: list[ReleaseCloseout]
    overdue: rules.Overdue | None  # None unless closing

    @property
    def is_overdue(self) -> bool:
        return self.overdue is not None and self.overdue.overdue

    @property
    def unaccepted(self) -> int:
        return sum(
            1
            for r in self.releases
            if r.needs_attestation and r.status != AttestationState.ACCEPTED.value
        )


def status_of(session: Session, project: Project, now: datetime, days: int) -> CloseoutStatus:
    """The close-out status of ``project`` (no access check: callers have done it)."""
    latest: dict[object, DestructionAttestation] = {}
    for attestation in attestations_of(session, project.id):
        latest[attestation.release_id] = attestation  # ordered by id: the newest wins
    releases = [
        ReleaseCloseout(r, rules.release_needs_attestation(r.state.value), latest.get(r.id))
        for r in releases_of(session, project.id)
    ]
    overdue = None
    if project.state is ProjectState.CLOSING and project.closing_at is not None:
        overdue = rules.overdue_state(project.closing_at, now, days)
    return CloseoutStatus(project, releases, overdue)


def project_closeout(
    session: Session, policy: AccessPolicy, user: User, project_id: int, now: datetime, days: int
) -> CloseoutStatus:
    """The status, for someone who may view the project."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFoundError(f"no project {project_id}", code="project_not_found")
    authorize_closeout(policy, user, Action.PROJECT_VIEW, project, now)
    return status_of(session, project, now, days)


def overdue_projects(session: Session, now: datetime, days: int) -> list[CloseoutStatus]:
    """Closing projects past their attestation deadline (governance's home page)."""
    closing = session.scalars(
        select(Project).where(Project.state == ProjectState.CLOSING).order_by(Project.id)
    )
    found = [status_of(session, p, now, days) for p in closing]
    return [s for s in found if s.is_overdue]


def statuses_of(
    session: Session, project_ids: Iterable[int], now: datetime, days: int
) -> dict[int, CloseoutStatus]:
    """The status of each project named (the review queue shows them beside each card)."""
    found = session.scalars(select(Project).where(Project.id.in_(set(project_ids))))
    return {p.id: status_of(session, p, now, days) for p in found}
