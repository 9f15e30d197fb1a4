"""Appending to the chain, inside the caller's transaction.

Appends are serialised so concurrent transactions never fork the chain, and the sequence
number is gapless (a rolled-back action takes its event with it, no database sequence).

- PostgreSQL: the database is the authority. A BEFORE INSERT trigger (migration 0009)
  takes a transaction-scoped advisory lock, reads the true head and sets ``seq``,
  ``prev_hash``, ``occurred_at`` and ``hash`` itself, so the application role cannot
  store an event that does not chain from the head. The recorder sends the fields, reads
  back what the database computed and recomputes the hash in Python: a disagreement
  (SQL and Python canonical JSON drifting apart) fails the action loudly instead of
  leaving a chain that no longer verifies.
- SQLite: every write transaction begins IMMEDIATE (see ``fivesafes.db``), which
  serialises writers; the recorder reads the head and computes the hash, and a trigger
  refuses a row whose ``seq``/``prev_hash`` do not follow the head (SQLite has no SHA-256
  in SQL, so a wrong hash is left to verification).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from fivesafes.audit.chain import GENESIS_HASH, EventFields, canonical_details, event_hash
from fivesafes.audit.context import AuditContext
from fivesafes.audit.entry import AuditEntry
from fivesafes.audit.models import AuditEvent
from fivesafes.db import utcnow

_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = select(_EVENTS.c.seq, _EVENTS.c.hash)
_INSERT = insert(_EVENTS)
_COMPUTED = ("seq", "occurred_at", "prev_hash", "hash")
_INSERT_PG = insert(_EVENTS).returning(*(_EVENTS.c[name] for name in _COMPUTED))


class ChainMismatchError(RuntimeError):
    """The database and Python computed different hashes for the same event."""


#: ``session.info`` key: the transaction that appended an event (see :func:`appended_in`).
_APPENDED = "fivesafes_audit_appended_in"

# An arbitrary constant naming "the audit chain" among advisory locks.
ADVISORY_LOCK_KEY = 0x5AFE_A0D1


class AuditRecorder(Protocol):
    """What services call; the API injects the chain recorder (or, in one benchmark, none)."""

    def __call__(
        self, session: Session, context: AuditContext, entry: AuditEntry
    ) -> AuditEvent | None: ...


def lock_chain(session: Session) -> None:
    """Hold the chain's append lock until the transaction ends (PostgreSQL; SQLite: IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


def appended_in_this_transaction(session: Session) -> bool:
    """Whether the session's current transaction has appended an audit event."""
    current = session.get_transaction()
    return current is not None and session.info.get(_APPENDED) is current


def chain_head(session: Session) -> tuple[int, str]:
    """The last sequence number and hash (0 and the genesis hash for an empty chain)."""
    row = session.connection().execute(_HEAD.order_by(_EVENTS.c.seq.desc()).limit(1)).first()
    return (0, GENESIS_HASH) if row is None else (row[0], row[1])


def record(session: Session, context: AuditContext, entry: AuditEntry) -> AuditEvent:
    """Append one event to the chain in ``session``'s transaction (flushed, not committed)."""
    session.info[_APPENDED] = session.get_transaction()
    if session.get_bind().dialect.name == "postgresql":
        # seq, time, link and hash are placeholders the trigger overwrites
        return _record_postgres(session, _fields(0, context, entry))
    last_seq, last_hash = chain_head(session)
    fields = _fields(last_seq + 1, context, entry)
    row = _row(fields, last_hash, event_hash(last_hash, fields))
    # A Core insert, not the ORM's unit of work: it runs in nearly every transaction, and
    # an append needs no identity map. The returned object is transient, for callers' use.
    session.connection().execute(_INSERT, row)
    return AuditEvent(**row)


def _fields(seq: int, context: AuditContext, entry: AuditEntry) -> EventFields:
    """The event's fields: the entry, the acting context, and the chain's seq and time."""
    return EventFields(
        seq=seq,
        occurred_at=utcnow(),
        actor_id=context.actor.id,
        actor_role=context.actor.role,
        action=entry.action,
        target_type=entry.target_type,
        target_id=entry.target_id,
        outcome=entry.outcome,
        request_id=context.request_id,
        client_addr=context.client_addr,
        details=canonical_details(entry.details),
    )


def _row(fields: EventFields, prev_hash: str, hash_: str) -> dict[str, Any]:
    return fields.values() | {"prev_hash": prev_hash, "hash": hash_}


def _record_postgres(session: Session, sent: EventFields) -> AuditEvent:
    """Insert the fields; the trigger computes seq, time, link and hash (see module doc)."""
    stored = session.connection().execute(_INSERT_PG, _row(sent, "", "")).one()
    seq, occurred_at, prev_hash, hash_ = tuple(stored)
    fields = replace(sent, seq=seq, occurred_at=occurred_at)
    if event_hash(prev_hash, fields) != hash_:
        raise ChainMismatchError(
            f"audit event {seq}: the database's hash differs from the canonical one"
        )
    return AuditEvent(**_row(fields, prev_hash, hash_))


def no_audit(session: Session, context: AuditContext, entry: AuditEntry) -> None:
    """Records nothing. Exists only so the audit benchmark can measure the cost of auditing."""
    return None
