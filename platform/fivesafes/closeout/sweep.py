"""The close-out sweep: end-date transitions and the daily overdue event.

Run every ``closeout_sweep_interval_seconds`` inside each API server and by
``fivesafes projects closeout-sweep`` from cron. Idempotent and safe with two servers:
each transition is a conditional update (``state = 'active'`` for closing, "last recorded
before today" for the overdue event) and only the one call whose update matched a row
audits, so running it twice, or on two servers at once, records each thing once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from fivesafes.access.models import Project, ProjectState
from fivesafes.audit.context import Actor, AuditContext
from fivesafes.audit.trail import AuditTrail
from fivesafes.closeout import rules
from fivesafes.closeout.service import begin_closing
from fivesafes.closeout.status import status_of

#: The actor of what the sweep does inside a server (the CLI's sweep is the operator).
SWEEP_ACTOR = Actor(id="system:closeout-sweep", role="system")


def system_trail() -> AuditTrail:
    return AuditTrail(AuditContext(actor=SWEEP_ACTOR))


@dataclass(slots=True)
class SweepResult:
    closing: list[int] = field(default_factory=list)  # projects this sweep began closing
    overdue_recorded: list[int] = field(default_factory=list)  # overdue events written


def sweep(
    session: Session, trail: AuditTrail, now: datetime, *, days: int, copies_folder: Path
) -> SweepResult:
    """Begin closing every active project past its end date; record overdue ones."""
    result = SweepResult()
    ended = session.scalars(
        select(Project.id)
        .where(Project.state == ProjectState.ACTIVE, Project.end_date < now.date())
        .order_by(Project.id)
    ).all()
    for project_id in ended:
        if begin_closing(
            session,
            trail,
            project_id,
            reason=rules.END_DATE_REASON,
            requested_by="system",
            trigger="end_date",
            now=now,
            copies_folder=copies_folder,
        ):
            result.closing.append(project_id)
    for project_id in _closing_not_recorded_today(session, now):
        if _record_overdue(session, trail, project_id, now, days):
            result.overdue_recorded.append(project_id)
    return result


def _closing_not_recorded_today(session: Session, now: datetime) -> list[int]:
    today = now.date()
    return list(
        session.scalars(
            select(Project.id)
            .where(
                Project.state == ProjectState.CLOSING,
                or_(Project.overdue_recorded_on.is_(None), Project.overdue_recorded_on < today),
            )
            .order_by(Project.id)
        ).all()
    )


def _record_overdue(
    session: Session, trail: AuditTrail, project_id: int, now: datetime, days: int
) -> bool:
    project = session.get(Project, project_id, populate_existing=True)
    if project is None or project.closing_at is None:
        return False
    status = status_of(session, project, now, days)
    if not status.is_overdue or not rules.overdue_event_due(project.overdue_recorded_on, now):
        return False
    today = now.date()
    claimed = session.execute(
        update(Project)
        .where(
            Project.id == project_id,
            Project.state == ProjectState.CLOSING,
            or_(Project.overdue_recorded_on.is_(None), Project.overdue_recorded_on < today),
        )
        .values(overdue_recorded_on=today)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False  # another server recorded it first
    assert status.overdue is not None
    trail.record(
        session,
        "project.attestation_overdue",
        target_type="project",
        target_id=str(project_id),
        details={
            "project_id": project_id,
            "days_overdue": status.overdue.days_overdue,
            "outstanding_releases": status.unaccepted,
        },
    )
    return True
