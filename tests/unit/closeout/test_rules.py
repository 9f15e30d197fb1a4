"""Close-out rules as pure functions: overdue, the daily event, outstanding releases,
the attestation's canonical hash, and the destruction date."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.closeout import rules
from fivesafes.errors import InvalidInputError

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
CONTENT = rules.AttestationContent(
    destroyed_by="Dr A Lead, principal investigator",
    destroyed_on=date(2026, 12, 1),
    method="Secure erase of the project share; laptop copy deleted and bin emptied",
    copies=("project share /projects/p1", "laptop LT-042"),
    signed_name="Alice Lead",
)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)


def test_overdue_exactly_after_the_allowed_days() -> None:
    closing = NOW - timedelta(days=30)
    assert not rules.overdue_state(closing, NOW, 30).overdue  # at the deadline: not yet
    late = rules.overdue_state(closing, NOW + timedelta(seconds=1), 30)
    assert late.overdue
    assert late.days_overdue == 0
    assert rules.overdue_state(closing, NOW + timedelta(days=3, hours=1), 30).days_overdue == 3


@given(closing=moments, elapsed=st.timedeltas(min_value=timedelta(0)), days=st.integers(1, 400))
def test_overdue_iff_past_deadline(closing: datetime, elapsed: timedelta, days: int) -> None:
    try:
        now = closing + elapsed
    except OverflowError:
        return
    state = rules.overdue_state(closing, now, days)
    assert state.deadline == closing + timedelta(days=days)
    assert state.overdue == (elapsed > timedelta(days=days))
    assert state.days_overdue >= 0
    assert state.overdue or state.days_overdue == 0


@given(last=st.none() | st.dates(), now=moments)
def test_overdue_event_at_most_once_per_utc_day(last: date | None, now: datetime) -> None:
    due = rules.overdue_event_due(last, now)
    assert due == (last is None or last < now.date())
    # Once recorded today, never again today.
    assert not rules.overdue_event_due(now.date(), now)


def test_every_release_needs_an_attestation_whatever_its_state() -> None:
    for state in ("completed", "interrupted", "streaming"):
        assert rules.release_needs_attestation(state)


@given(
    ids=st.lists(st.uuids(), unique=True, max_size=8),
    accepted=st.sets(st.integers(0, 7)),
)
def test_outstanding_is_releases_without_acceptance(
    ids: list[uuid.UUID], accepted: set[int]
) -> None:
    pairs = [(rid, "completed") for rid in ids]
    done = [ids[i] for i in accepted if i < len(ids)]
    left = rules.outstanding(pairs, done)
    assert set(left) == set(ids) - set(done)
    assert left == [rid for rid in ids if rid in set(left)]  # release order kept


def test_past_end_date_is_after_the_last_day() -> None:
    assert not rules.past_end_date(NOW.date(), NOW)
    assert rules.past_end_date(NOW.date() - timedelta(days=1), NOW)


def test_hash_is_sha256_of_rfc8785_and_binds_the_release() -> None:
    rid = uuid.UUID(int=1)
    doc = rules.attested_document(CONTENT, project_id=3, release_id=rid)
    # RFC 8785 for this ASCII content: sorted keys, no whitespace (json.dumps agrees).
    expected = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert rules.content_sha256(doc) == hashlib.sha256(expected).hexdigest()
    other = rules.attested_document(CONTENT, project_id=3, release_id=uuid.UUID(int=2))
    assert rules.content_sha256(other) != rules.content_sha256(doc)
    assert doc["declaration"] == rules.DECLARATION


@given(method=st.text(min_size=1, max_size=40), copies=st.lists(st.text(max_size=20), min_size=1))
def test_hash_ignores_key_order_but_not_content(method: str, copies: list[str]) -> None:
    content = rules.AttestationContent(
        CONTENT.destroyed_by, CONTENT.destroyed_on, method, tuple(copies), CONTENT.signed_name
    )
    doc = rules.attested_document(content, project_id=1, release_id=uuid.UUID(int=5))
    reordered = dict(reversed(list(doc.items())))
    assert rules.content_sha256(reordered) == rules.content_sha256(doc)
    changed = {**doc, "method": method + "."}
    assert rules.content_sha256(changed) != rules.content_sha256(doc)


def test_destroyed_on_not_future_not_before_release() -> None:
    rules.check_destroyed_on(NOW.date(), NOW.date(), NOW)
    with pytest.raises(InvalidInputError, match=r"destroyed_on: .* in the future"):
        rules.check_destroyed_on(NOW.date() + timedelta(days=1), NOW.date(), NOW)
    with pytest.raises(InvalidInputError, match=r"destroyed_on: .* before the release"):
        rules.check_destroyed_on(date(2026, 11, 1), date(2026, 11, 2), NOW)
