"""A point in time as a reviewer types it at the shell: ``24h`` ago, or a UTC date/time.

``fivesafes audit show --since 7d`` is what someone answering "what happened this week?"
types; ``--since 2026-11-03`` or ``--since 2026-11-03T09:30`` when they know the moment.
A relative span is a whole number and a unit: ``m`` minutes, ``h`` hours, ``d`` days,
``w`` weeks (calendar months and years vary in length, so they are not offered). A
date/time without an offset is UTC, as everything in the trail is. Anything else is
refused with a message that says what would have been understood.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fivesafes.errors import InvalidInputError

_SPAN = re.compile(r"(?P<count>[0-9]{1,6})\s*(?P<unit>[mhdw])", re.ASCII)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

EXPECTED = (
    "a span back from now (30m, 24h, 7d, 2w) or a UTC date or date/time "
    "(2026-11-03, 2026-11-03T09:30, 2026-11-03T09:30:00+01:00)"
)


def parse_moment(text: str, now: datetime, *, option: str = "--since") -> datetime:
    """The UTC instant ``text`` names, relative spans counted back from ``now``."""
    value = text.strip()
    span = _SPAN.fullmatch(value.lower())
    if span is not None:
        delta = timedelta(**{_UNITS[span["unit"]]: int(span["count"])})
        try:
            return now - delta
        except OverflowError:
            raise InvalidInputError(f"{option} {text!r} reaches back too far") from None
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidInputError(f"{option} {text!r} is not understood: give {EXPECTED}")
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInputError(f"{option} {text!r} is out of range") from None
