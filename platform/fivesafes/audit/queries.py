"""Reading the trail: filters, cursor pagination and CSV export for reviewers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import FIELD_NAMES, timestamp
from fivesafes.audit.models import AuditEvent

#: An export's columns: the hashed fields, then the links (what an export anchor reads).
CSV_COLUMNS = (*FIELD_NAMES, "prev_hash", "hash")


@dataclass(frozen=True, slots=True)
class EventFilter:
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(flt: EventFilter) -> Select[AuditEvent]:
    query = select(AuditEvent)
    if flt.actor_id:
        query = query.where(AuditEvent.actor_id == flt.actor_id)
    if flt.action:
        # "token." matches every token action; "token.issue" only that one.
        if flt.action.endswith("."):
            query = query.where(AuditEvent.action.startswith(flt.action, autoescape=True))
        else:
            query = query.where(AuditEvent.action == flt.action)
    if flt.target_type:
        query = query.where(AuditEvent.target_type == flt.target_type)
    if flt.target_id:
        query = query.where(AuditEvent.target_id == flt.target_id)
    if flt.outcome:
        query = query.where(AuditEvent.outcome == flt.outcome)
    if flt.since:
        query = query.where(AuditEvent.occurred_at >= flt.since)
    if flt.until:
        query = query.where(AuditEvent.occurred_at < flt.until)
    return query


def page(
    session: Session, flt: EventFilter, *, after: int = 0, limit: int = 100
) -> tuple[list[AuditEvent], int | None]:
    """One page in sequence order, and the cursor for the next (None at the end)."""
    rows = list(
        session.scalars(
            _filtered(flt).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)


def iter_events(session: Session, flt: EventFilter, batch: int = 2000) -> Iterator[AuditEvent]:
    after = 0
    while True:
        rows, cursor = page(session, flt, after=after, limit=batch)
        yield from rows
        if cursor is None:
            return
        after = cursor


def _cell(value: object) -> str:
    if value is None:
        return ""
    return timestamp(value) if isinstance(value, datetime) else str(value)


def as_row(event: AuditEvent) -> list[str]:
    """The event's cells in :data:`CSV_COLUMNS` order (times as hashed, no value as empty)."""
    return [_cell(getattr(event, column)) for column in CSV_COLUMNS]


def csv_lines(events: Iterator[AuditEvent]) -> Iterator[str]:
    """CSV text, a line at a time, so an export streams in constant memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow(as_row(event))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
