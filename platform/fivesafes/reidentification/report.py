"""The reversal report: every executed re-identification, for the annual IG audit.

One row per executed request: who asked, why (the purpose code), who approved (and whether
a Caldicott Guardian did), who executed it and when, and what action was recorded. Subjects
are counted and named by their pseudonym hash, as in the audit trail. No NHS number and
no justification text (free text that may carry clinical detail) is in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.access.models import ReviewDecision
from fivesafes.datasets.models import Dataset
from fivesafes.identity.models import User
from fivesafes.reidentification.models import ReidentificationRequest, ReidState

#: Column order of the CSV (``fivesafes reidentification report --csv``).
CSV_HEADER = (
    "request_id",
    "project_id",
    "dataset",
    "purpose",
    "subjects",
    "pseudonym_hashes",
    "requested_by",
    "requested_at",
    "approved_by",
    "caldicott_guardian_approved",
    "approved_at",
    "executed_by",
    "executed_at",
    "action_taken",
    "action_recorded_at",
)


@dataclass(frozen=True, slots=True)
class ReversalRow:
    """One executed reversal."""

    request_id: int
    project_id: int
    dataset: str
    purpose: str
    subjects: int
    pseudonym_hashes: tuple[str, ...]
    requested_by: str
    requested_at: datetime
    approved_by: tuple[str, ...]
    caldicott_guardian_approved: bool
    approved_at: datetime | None
    executed_by: str
    executed_at: datetime
    action_taken: str | None
    action_recorded_at: datetime | None

    def csv_row(self) -> list[str]:
        """The row's cells, in :data:`CSV_HEADER` order (lists joined with ``;``)."""

        def when(value: datetime | None) -> str:
            return "" if value is None else value.isoformat()

        return [
            str(self.request_id),
            str(self.project_id),
            self.dataset,
            self.purpose,
            str(self.subjects),
            ";".join(self.pseudonym_hashes),
            self.requested_by,
            when(self.requested_at),
            ";".join(self.approved_by),
            "yes" if self.caldicott_guardian_approved else "no",
            when(self.approved_at),
            self.executed_by,
            when(self.executed_at),
            self.action_taken or "",
            when(self.action_recorded_at),
        ]


def csv_rows(rows: Sequence[ReversalRow]) -> list[list[str]]:
    """The header, then each row's cells."""
    return [list(CSV_HEADER), *(row.csv_row() for row in rows)]


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def reversal_rows(session: Session, since: date | None, until: date | None) -> list[ReversalRow]:
    """Executed requests whose execution (UTC) falls on ``since``..``until`` inclusive,
    oldest first."""
    query = select(ReidentificationRequest).where(
        ReidentificationRequest.state.in_((ReidState.EXECUTED, ReidState.ACTIONED)),
        ReidentificationRequest.executed_at.is_not(None),
    )
    if since is not None:
        query = query.where(ReidentificationRequest.executed_at >= _start(since))
    if until is not None:
        query = query.where(ReidentificationRequest.executed_at < _start(until + timedelta(1)))
    requests = list(
        session.scalars(
            query.order_by(ReidentificationRequest.executed_at, ReidentificationRequest.id)
        )
    )
    names = _usernames(session, requests)
    datasets: dict[int, str] = dict(session.execute(select(Dataset.id, Dataset.name)).all())
    rows = []
    for request in requests:
        assert request.executed_at is not None
        assert request.executed_by is not None
        approvals = [a for a in request.approvals if a.decision is ReviewDecision.APPROVE]
        rows.append(
            ReversalRow(
                request_id=request.id,
                project_id=request.project_id,
                dataset=datasets.get(request.dataset_id, str(request.dataset_id)),
                purpose=request.purpose,
                subjects=len(request.subjects),
                pseudonym_hashes=tuple(s.pseudonym_hash for s in request.subjects),
                requested_by=names[request.requester_id],
                requested_at=request.created_at,
                approved_by=tuple(names[a.approver_id] for a in approvals),
                caldicott_guardian_approved=any(a.caldicott_guardian for a in approvals),
                approved_at=request.decided_at,
                executed_by=names[request.executed_by],
                executed_at=request.executed_at,
                action_taken=request.action_taken,
                action_recorded_at=request.action_recorded_at,
            )
        )
    return rows


def _usernames(session: Session, requests: list[ReidentificationRequest]) -> dict[uuid.UUID, str]:
    ids: set[uuid.UUID] = set()
    for request in requests:
        ids.add(request.requester_id)
        if request.executed_by is not None:
            ids.add(request.executed_by)
        ids.update(a.approver_id for a in request.approvals)
    if not ids:
        return {}
    found = session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return dict(found.all())
