"""Verification of the chain: the number of events verified, or the first damage found.

The verifier streams events in sequence order in batches (constant memory however long
the trail) and classifies the first problem it meets:

- ``edited``: an event's stored hash is not the hash of its own fields;
- ``missing``: a sequence number is skipped (a row deleted from the middle);
- ``reordered``: an event links to an existing event other than its predecessor;
- ``broken_link``: an event links to a hash that exists nowhere (a rebuilt stretch);
- ``truncated``: the chain ends before a trusted checkpoint's sequence number;
- ``rebuilt``: the event at a checkpoint's sequence number has a different hash;
- ``bad_checkpoint``: a checkpoint's signature does not verify.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import GENESIS_HASH, EventFields, event_hash
from fivesafes.audit.checkpoints import Checkpoint, latest_checkpoint
from fivesafes.audit.models import AuditEvent

BATCH = 5000


class StoredEvent(Protocol):
    """An event as stored: the ORM row, or any record with the same fields."""

    @property
    def seq(self) -> int: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def actor_id(self) -> str | None: ...
    @property
    def actor_role(self) -> str | None: ...
    @property
    def action(self) -> str: ...
    @property
    def target_type(self) -> str | None: ...
    @property
    def target_id(self) -> str | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def client_addr(self) -> str | None: ...
    @property
    def details(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    events_verified: int
    head_seq: int
    first_bad_seq: int | None = None
    damage: str | None = None
    message: str = ""
    checkpoint_seq: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "events_verified": self.events_verified,
            "head_seq": self.head_seq,
            "first_bad_seq": self.first_bad_seq,
            "damage": self.damage,
            "message": self.message,
            "checkpoint_seq": self.checkpoint_seq,
        }


def _events(session: Session) -> Iterator[AuditEvent]:
    after = 0
    while True:
        batch = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq > after)
                .order_by(AuditEvent.seq)
                .limit(BATCH)
            )
        )
        if not batch:
            return
        yield from batch
        after = batch[-1].seq
        session.expunge_all()


def fields_of(event: StoredEvent) -> EventFields:
    return EventFields(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        outcome=event.outcome,
        request_id=event.request_id,
        client_addr=event.client_addr,
        details=event.details,
    )


def verify_chain(
    session: Session,
    checkpoint: Checkpoint | None = None,
    *,
    trusted_public_key: str | None = None,
    use_stored_checkpoint: bool = True,
) -> VerifyResult:
    """Walk the whole chain in the database; compare with ``checkpoint`` (or the latest stored)."""
    if checkpoint is None and use_stored_checkpoint:
        checkpoint = latest_checkpoint(session)

    def hash_exists(value: str) -> bool:
        found = session.scalar(select(AuditEvent.seq).where(AuditEvent.hash == value).limit(1))
        return found is not None

    return verify_events(_events(session), checkpoint, hash_exists, trusted_public_key)


def verify_events(
    events: Iterable[StoredEvent],
    checkpoint: Checkpoint | None,
    hash_exists: Callable[[str], bool],
    trusted_public_key: str | None = None,
) -> VerifyResult:
    """The verification itself, over events in ascending ``seq`` order (no database needed)."""
    cp_seq = checkpoint.seq if checkpoint else None
    if checkpoint is not None and not checkpoint.signature_valid(trusted_public_key):
        return VerifyResult(
            False,
            0,
            0,
            checkpoint.seq,
            "bad_checkpoint",
            "checkpoint signature does not verify",
            cp_seq,
        )
    previous_hash, expected_seq, verified = GENESIS_HASH, 1, 0
    checkpoint_seen = False
    for event in events:
        bad = _classify(event, expected_seq, previous_hash, hash_exists)
        if bad is not None:
            damage, seq, message = bad
            return VerifyResult(False, verified, event.seq, seq, damage, message, cp_seq)
        if checkpoint is not None and event.seq == checkpoint.seq:
            checkpoint_seen = True
            if event.hash != checkpoint.hash:
                return VerifyResult(
                    False,
                    verified,
                    event.seq,
                    event.seq,
                    "rebuilt",
                    "event differs from the signed checkpoint",
                    cp_seq,
                )
        previous_hash, expected_seq, verified = event.hash, event.seq + 1, verified + 1
    head = expected_seq - 1
    if checkpoint is not None and checkpoint.seq > 0 and not checkpoint_seen:
        return VerifyResult(
            False,
            verified,
            head,
            head + 1,
            "truncated",
            f"chain ends at {head}, before checkpoint {checkpoint.seq}",
            cp_seq,
        )
    return VerifyResult(True, verified, head, message="chain intact", checkpoint_seq=cp_seq)


def _classify(
    event: StoredEvent, expected_seq: int, previous_hash: str, hash_exists: Callable[[str], bool]
) -> tuple[str, int, str] | None:
    if event.seq != expected_seq:
        return "missing", expected_seq, f"sequence jumps from {expected_seq - 1} to {event.seq}"
    if event_hash(event.prev_hash, fields_of(event)) != event.hash:
        return "edited", event.seq, "event content does not match its hash"
    if event.prev_hash != previous_hash:
        if hash_exists(event.prev_hash):
            return "reordered", event.seq, "event links to an event other than its predecessor"
        return "broken_link", event.seq, "event links to a hash found nowhere in the chain"
    return None
