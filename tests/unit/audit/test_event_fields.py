"""The fields of an event are named once (EventFields); the hash and the export they feed
must stay byte-for-byte what they were when they were spelled out field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fivesafes.audit.actors import ActorNames
from fivesafes.audit.chain import GENESIS_HASH, EventFields, canonical_details, event_hash
from fivesafes.audit.entry import AuditEntry
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.queries import CSV_COLUMNS, HASHED_CSV_COLUMNS, as_row
from fivesafes.audit.schemas import AuditEventOut

AT = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
FIELDS = EventFields(
    seq=7,
    occurred_at=AT,
    actor_id="a1b2",
    actor_role="governance",
    action="audit.view",
    target_type="dataset_version",
    target_id="notes/3",
    outcome="denied",
    request_id="r-1",
    client_addr="10.0.0.1",
    details=canonical_details({"z": [1, 2**60, None], "é": {"b": True, "a": 1.5}, "count": 3}),
)


def test_hashes_are_those_of_the_spelled_out_payload() -> None:
    # Computed by the code before the fields were named once (commit 36f04f0).
    assert FIELDS.details == '{"count":3,"z":[1,"1152921504606846976",null],"é":{"a":1.5,"b":true}}'
    assert event_hash(GENESIS_HASH, FIELDS) == (
        "e8dd0ec7a8141a09fc0def619c18f16491ff45f73ae7f579a9e2eaf58e1f358d"
    )
    assert event_hash("ab" * 32, FIELDS) == (
        "99248b77b7a9de1156b4783d29d6d3f69cdb344e0fe0ed8cc585bac0ba2f032a"
    )


def test_a_stored_event_reads_back_as_the_fields_it_was_made_of() -> None:
    stored = AuditEvent(**FIELDS.values(), prev_hash=GENESIS_HASH, hash="f" * 64)
    assert EventFields.of(stored) == FIELDS


def test_export_row_is_the_spelled_out_row() -> None:
    event = AuditEvent(
        **(FIELDS.values() | {"actor_id": None, "actor_role": None, "target_type": None}),
        prev_hash="0" * 64,
        hash="f" * 64,
    )
    assert as_row(event, ActorNames()) == [
        "7",
        "2026-03-04T05:06:07.000089Z",
        "",
        "",  # actor_username: resolved when exported, not hashed
        "",
        "audit.view",
        "",
        "notes/3",
        "denied",
        "r-1",
        "10.0.0.1",
        FIELDS.details,
        "0" * 64,
        "f" * 64,
    ]


def test_the_api_shows_every_exported_column() -> None:
    # AuditEventOut is the API's own schema (details parsed); it must not drift from the chain.
    assert tuple(AuditEventOut.model_fields) == CSV_COLUMNS


def test_the_export_adds_the_username_beside_the_id_and_keeps_every_hashed_column() -> None:
    assert [c for c in CSV_COLUMNS if c != "actor_username"] == list(HASHED_CSV_COLUMNS)
    assert CSV_COLUMNS.index("actor_username") == CSV_COLUMNS.index("actor_id") + 1
    named = AuditEvent(**FIELDS.values(), prev_hash="0" * 64, hash="f" * 64)
    row = dict(zip(CSV_COLUMNS, as_row(named, ActorNames({"a1b2": "gina"})), strict=True))
    assert (row["actor_id"], row["actor_username"]) == ("a1b2", "gina")


@pytest.mark.parametrize(
    ("outcome", "details"), [("maybe", {}), ("success", {"password": "x"}), ("failed", {"name": 1})]
)
def test_an_entry_that_could_not_be_stored_is_never_made(
    outcome: str, details: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="audit"):
        AuditEntry("test.event", outcome, details=details)
