"""Appending to the chain, inside the caller's transaction.

Appends are serialised so concurrent transactions never fork the chain: on PostgreSQL a
transaction-scoped advisory lock (released at commit or rollback) guards "read the head,
write the next event"; on SQLite every write transaction already begins IMMEDIATE (see
``fivesafes.db``), which serialises writers. The sequence number is assigned here, never
by the database, so it is gapless: a rolled-back action takes its event with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from fivesafes.audit.chain import (
    GENESIS_HASH,
    OUTCOMES,
    EventFields,
    canonical_details,
    event_hash,
)
from fivesafes.audit.context import AuditContext
from fivesafes.audit.models import AuditEvent
from fivesafes.db import utcnow

_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = select(_EVENTS.c.seq, _EVENTS.c.hash)
_INSERT = insert(_EVENTS)

# An arbitrary constant naming "the audit chain" among advisory locks.
ADVISORY_LOCK_KEY = 0x5AFE_A0D1
_FORBIDDEN_DETAIL_KEYS = frozenset({"token", "secret", "password", "nhs_number", "name"})


class AuditRecorder(Protocol):
    """What services call; the API injects the chain recorder (or, in one benchmark, none)."""

    def __call__(
        self,
        session: Session,
        context: AuditContext,
        action: str,
        *,
        outcome: str = "success",
        target_type: str | None = None,
        target_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEvent | None: ...


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


def chain_head(session: Session) -> tuple[int, str]:
    """The last sequence number and hash (0 and the genesis hash for an empty chain)."""
    row = session.connection().execute(_HEAD.order_by(_EVENTS.c.seq.desc()).limit(1)).first()
    return (0, GENESIS_HASH) if row is None else (row[0], row[1])


def _check_details(details: Mapping[str, Any]) -> None:
    # A guard rail, not the protection itself: callers pass counts, codes and ids.
    bad = _FORBIDDEN_DETAIL_KEYS.intersection(details)
    if bad:
        raise ValueError(f"audit details must not carry {sorted(bad)}")


def record(
    session: Session,
    context: AuditContext,
    action: str,
    *,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain in ``session``'s transaction (flushed, not committed)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    details = dict(details or {})
    _check_details(details)
    _lock_chain(session)
    last_seq, last_hash = chain_head(session)
    fields = EventFields(
        seq=last_seq + 1,
        occurred_at=utcnow(),
        actor_id=context.actor.id,
        actor_role=context.actor.role,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        request_id=context.request_id,
        client_addr=context.client_addr,
        details=canonical_details(details),
    )
    row = {
        "seq": fields.seq,
        "occurred_at": fields.occurred_at,
        "actor_id": fields.actor_id,
        "actor_role": fields.actor_role,
        "action": fields.action,
        "target_type": fields.target_type,
        "target_id": fields.target_id,
        "outcome": fields.outcome,
        "request_id": fields.request_id,
        "client_addr": fields.client_addr,
        "details": fields.details,
        "prev_hash": last_hash,
        "hash": event_hash(last_hash, fields),
    }
    # A Core insert, not the ORM's unit of work: it runs in nearly every transaction, and
    # an append needs no identity map. The returned object is transient, for callers' use.
    session.connection().execute(_INSERT, row)
    return AuditEvent(**row)


def no_audit(
    session: Session,
    context: AuditContext,
    action: str,
    *,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Records nothing. Exists only so the audit benchmark can measure the cost of auditing."""
    return None
