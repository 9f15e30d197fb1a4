"""The close-out rules as pure functions: which releases need an attestation, when a
project is overdue, when its daily overdue event is due, what an attestation's hash is.

Kept free of the database so the rules can be read (and property-tested) on their own;
:mod:`fivesafes.closeout.service` and :mod:`fivesafes.closeout.sweep` apply them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import rfc8785

from fivesafes.errors import InvalidInputError

#: The declaration the lead accepts and signs, stored with each attestation as signed.
DECLARATION = (
    "I declare that every copy of the released data listed in this attestation has been "
    "destroyed by the method stated, so that it cannot be recovered or reconstructed; "
    "that neither I nor, to the best of my knowledge, any member of the project holds "
    "any other copy; and that this statement is true."
)

#: Why a project began closing when the end date did it (the sweep's reason).
END_DATE_REASON = "end date reached"


def past_end_date(end_date: date, now: datetime) -> bool:
    """A project whose last day is over (the same test as the access rule ``project_ended``)."""
    return now.date() > end_date


def release_needs_attestation(release_state: str) -> bool:
    """Every release row needs an attestation, whatever its state.

    A release row is written before the first byte leaves, so a row means data may have
    reached the researcher: a completed release in full, an interrupted one in part (a
    partial file is still patient-level data on someone's disk), and one left
    ``streaming`` by a server that died mid-stream in an unknown amount. The lead attests
    for each that whatever arrived was destroyed ("the partial download was deleted").
    """
    del release_state  # the state does not change the answer; see above
    return True


def outstanding(
    releases: Iterable[tuple[uuid.UUID, str]], accepted: Iterable[uuid.UUID]
) -> list[uuid.UUID]:
    """The release ids (of ``(id, state)`` pairs) still lacking an accepted attestation."""
    done = set(accepted)
    return [rid for rid, state in releases if release_needs_attestation(state) and rid not in done]


@dataclass(frozen=True, slots=True)
class Overdue:
    """Whether a closing project's attestations are late, and by how many whole days."""

    deadline: datetime
    overdue: bool
    days_overdue: int  # whole days past the deadline (0 during the first day late)


def overdue_state(closing_at: datetime, now: datetime, allowed_days: int) -> Overdue:
    deadline = closing_at + timedelta(days=allowed_days)
    late = now > deadline
    return Overdue(deadline, late, (now - deadline).days if late else 0)


def overdue_event_due(last_recorded_on: date | None, now: datetime) -> bool:
    """At most one ``project.attestation_overdue`` per project per UTC day."""
    return last_recorded_on is None or last_recorded_on < now.date()


@dataclass(frozen=True, slots=True)
class AttestationContent:
    """What the lead attests for one or several releases (validated on construction)."""

    destroyed_by: str
    destroyed_on: date
    method: str
    copies: tuple[str, ...]
    signed_name: str
    declaration: str = DECLARATION


def check_destroyed_on(destroyed_on: date, released_on: date, now: datetime) -> None:
    """A destruction date not in the future and not before the release it destroys."""
    if destroyed_on > now.date():
        raise InvalidInputError(
            f"destroyed_on: {destroyed_on} is in the future", code="invalid_destroyed_on"
        )
    if destroyed_on < released_on:
        raise InvalidInputError(
            f"destroyed_on: {destroyed_on} is before the release was made ({released_on})",
            code="invalid_destroyed_on",
        )


def attested_document(
    content: AttestationContent, *, project_id: int, release_id: uuid.UUID
) -> dict[str, Any]:
    """The attested content of one release, as the JSON object that is hashed."""
    return {
        "project_id": project_id,
        "release_id": str(release_id),
        "destroyed_by": content.destroyed_by,
        "destroyed_on": content.destroyed_on.isoformat(),
        "method": content.method,
        "copies": list(content.copies),
        "declaration": content.declaration,
        "signed_name": content.signed_name,
    }


def content_sha256(document: dict[str, Any]) -> str:
    """SHA-256 of the RFC 8785 canonical JSON: the same bytes whatever the key order."""
    return hashlib.sha256(rfc8785.dumps(document)).hexdigest()
