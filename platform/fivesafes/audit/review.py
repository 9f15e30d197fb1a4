"""Reading the trail as a governance officer does: a page of events with their actors'
names, the timeline of the filtered trail, or the filtered trail as CSV.

Reading the trail is itself on the trail (who looked, with which filter, how many events
they saw), so the API, the web pages and the CLI read through these functions and record
the reading the same way; :mod:`fivesafes.audit.queries` is the reading alone. Actors'
names are resolved here, once per page or export batch (:mod:`fivesafes.audit.actors`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fivesafes.audit import actors, queries
from fivesafes.audit import timeline as periods
from fivesafes.audit.actors import ActorNames, UsernameLookup
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.db import READ_ONLY


def describe(flt: queries.EventFilter) -> dict[str, str]:
    """The filter as the trail stores it: the criteria that were set, as text."""
    return {k: str(v) for k, v in asdict(flt).items() if v is not None}


@dataclass(frozen=True, slots=True)
class EventsPage:
    events: list[AuditEvent]
    next_cursor: int | None
    names: ActorNames


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page: after the cursor ``after`` in sequence order, or, newest first, before
    the cursor ``before`` (None: from the newest)."""

    limit: int = 100
    after: int = 0
    newest_first: bool = False
    before: int | None = None


def view_page(
    session: Session,
    trail: AuditTrail,
    flt: queries.EventFilter,
    lookup: UsernameLookup,
    request: PageRequest,
) -> EventsPage:
    """One page of matching events and the next cursor, with their actors' names; the
    view is audited."""
    events, cursor = queries.page(
        session,
        flt,
        after=request.after,
        limit=request.limit,
        newest_first=request.newest_first,
        before=request.before,
    )
    trail.record(session, "audit.view", details={"filter": describe(flt), "count": len(events)})
    return EventsPage(events, cursor, actors.resolve(session, lookup, events))


def timeline(session: Session, flt: queries.EventFilter) -> periods.Timeline | None:
    """The matching events per period over the filter's window (None when none match).

    Part of a page whose view :func:`view_page` records (with this same filter), so not
    recorded again.
    """
    found = queries.extent(session, flt)
    if found is None:
        return None
    start, end = periods.window(flt.since, flt.until, *found)
    step = periods.choose_step(start, end)
    return periods.build(start, end, step, queries.counts(session, flt, step.grain))


def csv_of(session: Session, flt: queries.EventFilter, lookup: UsernameLookup) -> Iterator[str]:
    """The filtered trail as CSV text read in ``session``, names looked up per batch (the
    reading alone: :func:`export_csv` is the audited export)."""
    batches = queries.iter_batches(session, flt)
    return queries.csv_lines((b, actors.resolve(session, lookup, b)) for b in batches)


def export_csv(
    session: Session,
    trail: AuditTrail,
    engine: Engine,
    flt: queries.EventFilter,
    lookup: UsernameLookup,
) -> Iterator[str]:
    """Record the export in ``session``, and return the CSV text to stream.

    The lines are read later, while the response streams, through a read-only session of
    their own on ``engine``: by then the request's transaction (with the export's own
    event, which the export therefore shows) has committed.
    """
    trail.record(session, "audit.export", details={"filter": describe(flt)})
    reader_engine = engine.execution_options(**{READ_ONLY: True})

    def lines() -> Iterator[str]:
        with Session(reader_engine) as reader:
            yield from csv_of(reader, flt, lookup)

    return lines()
