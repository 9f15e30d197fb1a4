"""Reading the trail: filters, cursor pagination, per-period counts and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from fivesafes.audit.actors import ActorNames
from fivesafes.audit.chain import FIELD_NAMES, timestamp
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.timeline import Grain

#: The columns of exports made before usernames were added (still read by verification).
HASHED_CSV_COLUMNS = (*FIELD_NAMES, "prev_hash", "hash")
#: An export's columns: the hashed fields with the actor's username (resolved when the
#: export is made, so not covered by the hash) after the actor id, then the links.
CSV_COLUMNS = (
    *FIELD_NAMES[: FIELD_NAMES.index("actor_id") + 1],
    "actor_username",
    *HASHED_CSV_COLUMNS[FIELD_NAMES.index("actor_id") + 1 :],
)


@dataclass(frozen=True, slots=True)
class EventFilter:
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_query(self) -> dict[str, str]:
        """The filter as the API's query parameters (``GET /audit/events[.csv]``)."""
        named = {
            "actor": self.actor_id,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "outcome": self.outcome,
            "since": timestamp(self.since) if self.since else None,
            "until": timestamp(self.until) if self.until else None,
        }
        return {k: v for k, v in named.items() if v}


def _criteria(flt: EventFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.actor_id:
        where.append(AuditEvent.actor_id == flt.actor_id)
    if flt.action:
        # "token." matches every token action; "token.issue" only that one.
        if flt.action.endswith("."):
            where.append(AuditEvent.action.startswith(flt.action, autoescape=True))
        else:
            where.append(AuditEvent.action == flt.action)
    if flt.target_type:
        where.append(AuditEvent.target_type == flt.target_type)
    if flt.target_id:
        where.append(AuditEvent.target_id == flt.target_id)
    if flt.outcome:
        where.append(AuditEvent.outcome == flt.outcome)
    if flt.since:
        where.append(AuditEvent.occurred_at >= flt.since)
    if flt.until:
        where.append(AuditEvent.occurred_at < flt.until)
    return where


def _filtered(flt: EventFilter) -> Select[AuditEvent]:
    return select(AuditEvent).where(*_criteria(flt))


def page(
    session: Session,
    flt: EventFilter,
    *,
    after: int = 0,
    limit: int = 100,
    newest_first: bool = False,
    before: int | None = None,
) -> tuple[list[AuditEvent], int | None]:
    """One page in sequence order (or newest first), and the cursor for the next (None at
    the end): the last seq of the page, to pass as ``after`` (or ``before``) next time."""
    query = _filtered(flt).where(AuditEvent.seq > after)
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    order = AuditEvent.seq.desc() if newest_first else AuditEvent.seq
    rows = list(session.scalars(query.order_by(order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)


def iter_batches(
    session: Session, flt: EventFilter, batch: int = 2000
) -> Iterator[list[AuditEvent]]:
    """Every matching event in sequence order, a batch (one query) at a time."""
    after = 0
    while True:
        rows, cursor = page(session, flt, after=after, limit=batch)
        if rows:
            yield rows
        if cursor is None:
            return
        after = cursor


def iter_events(session: Session, flt: EventFilter, batch: int = 2000) -> Iterator[AuditEvent]:
    for rows in iter_batches(session, flt, batch):
        yield from rows


def extent(session: Session, flt: EventFilter) -> tuple[datetime, datetime] | None:
    """The times of the first and last matching events (None when nothing matches)."""
    first, last = session.execute(
        select(func.min(AuditEvent.occurred_at), func.max(AuditEvent.occurred_at)).where(
            *_criteria(flt)
        )
    ).one()
    return None if first is None or last is None else (first, last)


#: How each grain is written as text by the database, and read back (the same text).
_GRAIN_FORMATS = {
    Grain.MINUTE: ("%Y-%m-%d %H:%M", "YYYY-MM-DD HH24:MI"),
    Grain.HOUR: ("%Y-%m-%d %H", "YYYY-MM-DD HH24"),
    Grain.DAY: ("%Y-%m-%d", "YYYY-MM-DD"),
}


def counts(session: Session, flt: EventFilter, grain: Grain) -> list[tuple[datetime, str, int]]:
    """Matching events counted per minute, hour or day (UTC) and outcome, by the database:
    a timeline over years reads a few thousand rows, not every event."""
    python_format, pg_format = _GRAIN_FORMATS[grain]
    if session.get_bind().dialect.name == "postgresql":
        key = func.to_char(func.timezone("UTC", AuditEvent.occurred_at), pg_format)
    else:  # SQLite stores UTC as text; strftime reads it
        key = func.strftime(python_format, AuditEvent.occurred_at)
    query = (
        select(key, AuditEvent.outcome, func.count())
        .where(*_criteria(flt))
        .group_by(key, AuditEvent.outcome)
    )
    return [
        (datetime.strptime(text, python_format).replace(tzinfo=UTC), outcome, n)
        for text, outcome, n in session.execute(query)
    ]


def _cell(value: object) -> str:
    if value is None:
        return ""
    return timestamp(value) if isinstance(value, datetime) else str(value)


def as_row(event: AuditEvent, names: ActorNames) -> list[str]:
    """The event's cells in :data:`CSV_COLUMNS` order (times as hashed, no value as empty)."""
    row = {column: _cell(getattr(event, column)) for column in HASHED_CSV_COLUMNS}
    row["actor_username"] = names.username(event.actor_id) or ""
    return [row[column] for column in CSV_COLUMNS]


def csv_lines(batches: Iterable[tuple[Sequence[AuditEvent], ActorNames]]) -> Iterator[str]:
    """CSV text, a line at a time, so an export streams in constant memory; each batch
    of events comes with its actors' names (looked up once per batch)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for events, names in batches:
        for event in events:
            writer.writerow(as_row(event, names))
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
