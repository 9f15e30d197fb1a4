"""Reading the trail as a governance officer does: a page of events, or the filtered trail
as CSV.

Reading the trail is itself on the trail (who looked, with which filter, how many events
they saw), so the API, the web pages and the CLI read through these functions and record
the reading the same way; :mod:`fivesafes.audit.queries` is the reading alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fivesafes.audit import queries
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.db import READ_ONLY


def describe(flt: queries.EventFilter) -> dict[str, str]:
    """The filter as the trail stores it: the criteria that were set, as text."""
    return {k: str(v) for k, v in asdict(flt).items() if v is not None}


def view_page(
    session: Session, trail: AuditTrail, flt: queries.EventFilter, *, after: int, limit: int
) -> tuple[list[AuditEvent], int | None]:
    """One page of matching events after ``after`` and the next cursor; the view is audited."""
    events, cursor = queries.page(session, flt, after=after, limit=limit)
    trail.record(session, "audit.view", details={"filter": describe(flt), "count": len(events)})
    return events, cursor


def export_csv(
    session: Session, trail: AuditTrail, engine: Engine, flt: queries.EventFilter
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
            yield from queries.csv_lines(queries.iter_events(reader, flt))

    return lines()
