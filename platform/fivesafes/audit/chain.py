"""The hash chain: pure functions, shared by the recorder and the verifier.

Each event's hash is SHA-256 over the previous hash and the RFC 8785 canonical JSON of
the event's fields, so any edit, deletion or reordering changes every later hash.
Canonical JSON (not ``json.dumps``) makes the bytes hashed independent of key order,
whitespace and float formatting, so an independent verifier can recompute them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class EventFields:
    """Everything in an event that the hash covers: every stored column but the two hashes.

    The one list of those fields: :data:`FIELD_NAMES` (its order) is what the recorder
    stores, the verifier reads back from a stored event and the CSV export writes.
    """

    seq: int
    occurred_at: datetime
    actor_id: str | None
    actor_role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    request_id: str | None
    client_addr: str | None
    details: str  # canonical JSON text

    def values(self) -> dict[str, Any]:
        """The fields by name, as stored (``occurred_at`` a datetime, ``details`` text)."""
        return {name: getattr(self, name) for name in FIELD_NAMES}

    def payload(self) -> dict[str, Any]:
        """What is hashed: the fields, the time as text and the details as JSON again."""
        return self.values() | {
            "occurred_at": timestamp(self.occurred_at),
            "details": json.loads(self.details),
        }

    @classmethod
    def of(cls, event: object) -> EventFields:
        """The hashed fields of a stored event (the ORM row, or any record with the names)."""
        return cls(**{name: getattr(event, name) for name in FIELD_NAMES})


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(EventFields))


def timestamp(moment: datetime) -> str:
    """Microsecond ISO-8601 in UTC: what both SQLite and PostgreSQL round-trip exactly."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_SAFE_INT = 2**53 - 1


def _json_safe(value: Any) -> Any:
    """I-JSON (which RFC 8785 follows) has no integers beyond 2**53; keep those as text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -_SAFE_INT <= value <= _SAFE_INT else str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def canonical_details(details: Mapping[str, Any] | None) -> str:
    return rfc8785.dumps(_json_safe(dict(details or {}))).decode("utf-8")


def event_hash(prev_hash: str, fields: EventFields) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(rfc8785.dumps(fields.payload()))
    return digest.hexdigest()


def checkpoint_message(seq: int, head_hash: str) -> bytes:
    """The bytes a checkpoint signature covers."""
    return rfc8785.dumps({"kind": "fivesafes-audit-checkpoint/v1", "seq": seq, "hash": head_hash})
