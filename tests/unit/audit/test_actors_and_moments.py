"""Actors' names are looked up once for all the events of a page; ``--since`` reads a
span back from now or a UTC date/time, and refuses anything else by name."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.audit import actors
from fivesafes.audit.actors import ActorNames
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.moments import parse_moment
from fivesafes.errors import InvalidInputError

GINA, RITA, GONE = (str(uuid.uuid4()) for _ in range(3))


def _event(actor_id: str | None) -> AuditEvent:
    return AuditEvent(actor_id=actor_id, action="audit.view", outcome="success")


class Directory:
    """A stand-in for identity.directory.usernames that counts its look-ups."""

    def __init__(self) -> None:
        self.calls: list[set[str]] = []

    def __call__(self, session: object, ids: Iterable[str]) -> dict[str, str]:
        asked = set(ids)
        self.calls.append(asked)
        return {i: n for i, n in {GINA: "gina", RITA: "rita"}.items() if i in asked}


def test_names_are_looked_up_once_for_a_page_and_operators_are_not_looked_up() -> None:
    directory = Directory()
    events = [_event(a) for a in (GINA, RITA, GINA, "os:root", None, GONE)]
    names = actors.resolve(None, directory, events)  # type: ignore[arg-type]
    assert directory.calls == [{GINA, RITA, GONE}]
    assert [names.username(e.actor_id) for e in events] == [
        "gina",
        "rita",
        "gina",
        None,
        None,
        None,
    ]
    assert [names.label(e.actor_id) for e in events] == [
        "gina",
        "rita",
        "gina",
        "os:root",
        "anonymous",
        GONE,
    ]


def test_a_page_without_users_asks_nothing() -> None:
    directory = Directory()
    names = actors.resolve(None, directory, [_event("os:root"), _event(None)])  # type: ignore[arg-type]
    assert directory.calls == []
    assert names == ActorNames()


NOW = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)


@given(st.integers(0, 99_999), st.sampled_from(["m", "h", "d", "w", "H", "D"]))
def test_a_span_counts_back_from_now(count: int, unit: str) -> None:
    per = {
        "m": timedelta(minutes=1),
        "h": timedelta(hours=1),
        "d": timedelta(days=1),
        "w": timedelta(weeks=1),
    }[unit.lower()]
    assert parse_moment(f"{count}{unit}", NOW) == NOW - per * count


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9000, 1, 1)))
def test_a_date_time_without_an_offset_is_utc(moment: datetime) -> None:
    assert parse_moment(moment.isoformat(), NOW) == moment.replace(tzinfo=UTC)


def test_dates_and_offsets() -> None:
    assert parse_moment("2026-11-03", NOW) == datetime(2026, 11, 3, tzinfo=UTC)
    assert parse_moment(" 2026-11-03T09:30+01:00 ", NOW) == datetime(2026, 11, 3, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["", "yesterday", "7", "7y", "-3d", "1.5h", "2026-13-01", "7d ago"]
)
def test_anything_else_is_refused_naming_the_option_and_the_forms(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"--until .*not understood: give a span"):
        parse_moment(text, NOW, option="--until")


def test_a_span_beyond_the_calendar_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="too far"):
        parse_moment("999999w", NOW)
