"""Verification of the chain: the number of events verified, or the first damage found.

The verifier streams events in sequence order in batches (constant memory however long
the trail) and classifies the first problem it meets:

- ``edited``: an event's stored hash is not the hash of its own fields;
- ``missing``: a sequence number is skipped (a row deleted from the middle);
- ``reordered``: an event links to an existing event other than its predecessor;
- ``broken_link``: an event links to a hash that exists nowhere (a rebuilt stretch);
- ``truncated``: the chain ends before a trusted checkpoint's sequence number;
- ``rebuilt``: the event at a checkpoint's sequence number has a different hash;
- ``bad_checkpoint``: a checkpoint's signature does not verify with the trusted key (or
  with a retired key attested up to it, for a checkpoint within that key's life).

Checkpoints are believed only when signed by the *trusted* public key, which comes from
configuration or the key store and never from the database (see ``audit.trust``); which
checkpoints are checked - the database's, the published folder's, exported files - is the
caller's choice, and docs/audit.md says what each choice proves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import GENESIS_HASH, EventFields, event_hash
from fivesafes.audit.checkpoints import Checkpoint, from_row
from fivesafes.audit.models import AuditCheckpoint, AuditEvent
from fivesafes.audit.trust import TrustedKeys

BATCH = 5000


class StoredEvent(Protocol):
    """An event as stored: the ORM row, or any record with the same fields.

    Besides its links it has every field of :class:`EventFields` (read by name, see
    :meth:`EventFields.of`); only what the walk itself compares is spelled out here.
    """

    @property
    def seq(self) -> int: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Anchor:
    """A (seq, hash) the chain must still contain, and where that claim came from.

    Anchors come from signed checkpoints whose signature was checked against the trusted
    public key (:func:`anchors_from`), or from an external copy of the events the
    operator kept (:func:`anchors_from_export`).
    """

    seq: int
    hash: str
    source: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    events_verified: int
    head_seq: int
    first_bad_seq: int | None = None
    damage: str | None = None
    message: str = ""
    checkpoint_seq: int | None = None
    checkpoints_checked: int = 0
    sources: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "events_verified": self.events_verified,
            "head_seq": self.head_seq,
            "first_bad_seq": self.first_bad_seq,
            "damage": self.damage,
            "message": self.message,
            "checkpoint_seq": self.checkpoint_seq,
            "checkpoints_checked": self.checkpoints_checked,
            "sources": list(self.sources),
        }


class BadCheckpointError(Exception):
    """A checkpoint that is not what the trusted key signed; carries the result to report."""

    def __init__(self, result: VerifyResult) -> None:
        super().__init__(result.message)
        self.result = result


def anchors_from(
    checkpoints: Iterable[tuple[str, Checkpoint]], trusted_public_key: TrustedKeys | str
) -> list[Anchor]:
    """Anchors of checkpoints signed by the trusted keys; :class:`BadCheckpointError` otherwise.

    A checkpoint signed by any other key (re-signed by someone holding the database, who
    cannot hold the signing key), or by a retired key after its retirement, is damage,
    not something to skip. A bare base64 key is the current key with no retired ones.
    """
    trusted = TrustedKeys.of(trusted_public_key)
    anchors = []
    for source, checkpoint in checkpoints:
        refusal = trusted.refusal(checkpoint)
        if refusal is not None:
            raise BadCheckpointError(
                VerifyResult(
                    False,
                    0,
                    0,
                    checkpoint.seq,
                    "bad_checkpoint",
                    f"{source}: {refusal}",
                    checkpoint.seq,
                )
            )
        anchors.append(Anchor(checkpoint.seq, checkpoint.hash, source))
    return anchors


def stored_checkpoints(session: Session) -> list[tuple[str, Checkpoint]]:
    """The checkpoints kept in the database, named by their row id."""
    rows = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id))
    return [(f"database checkpoint {row.id}", from_row(row)) for row in rows]


def _events(session: Session, after: int = 0) -> Iterator[AuditEvent]:
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


def verify_chain(
    session: Session,
    checkpoints: Sequence[tuple[str, Checkpoint]] = (),
    *,
    trusted_public_key: TrustedKeys | str | None = None,
    include_stored: bool = True,
    anchors: Sequence[Anchor] = (),
) -> VerifyResult:
    """Walk the whole chain in the database and check it contains every anchor.

    ``checkpoints`` (published files, exported files) and, with ``include_stored``, the
    checkpoints in the database are checked against ``trusted_public_key`` - never a key
    read from the database. Without a trusted key no checkpoint can be believed: stored
    ones are then not used, and given ones are refused (:class:`ValueError`).
    """
    wanted = list(checkpoints)
    if trusted_public_key is None:
        if wanted:
            raise ValueError("checkpoints cannot be checked without a trusted public key")
    elif include_stored:
        wanted += stored_checkpoints(session)
    try:
        trusted = anchors_from(wanted, trusted_public_key) if trusted_public_key else []
    except BadCheckpointError as bad:
        return bad.result

    def hash_exists(value: str) -> bool:
        found = session.scalar(select(AuditEvent.seq).where(AuditEvent.hash == value).limit(1))
        return found is not None

    return verify_events(_events(session), [*trusted, *anchors], hash_exists)


def verify_since(session: Session, last: Anchor | None) -> VerifyResult:
    """Verify only what follows a trusted anchor: it must hold, and the chain after it.

    What signing needs before it signs a new head: the stretch up to ``last`` was already
    checked when ``last`` was signed, so the cost is the new events only.
    """
    if last is None:
        return verify_chain(session)
    stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == last.seq))
    if stored is None:
        message = f"{last.source} at {last.seq} is beyond the chain"
        return VerifyResult(False, 0, 0, last.seq, "truncated", message, last.seq, 1)
    if stored != last.hash:
        message = f"event differs from {last.source}"
        return VerifyResult(False, 0, last.seq, last.seq, "rebuilt", message, last.seq, 1)

    def hash_exists(value: str) -> bool:
        found = session.scalar(select(AuditEvent.seq).where(AuditEvent.hash == value).limit(1))
        return found is not None

    return verify_events(_events(session, last.seq), [last], hash_exists, start=last)


def verify_events(
    events: Iterable[StoredEvent],
    anchors: Sequence[Anchor],
    hash_exists: Callable[[str], bool],
    *,
    start: Anchor | None = None,
) -> VerifyResult:
    """The verification itself, over events in ascending ``seq`` order (no database needed).

    ``start``: the events follow this already-verified event (default: the genesis).
    """
    by_seq: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        by_seq.setdefault(anchor.seq, []).append(anchor)
    top = max((a.seq for a in anchors), default=None)
    sources = tuple(sorted({a.source for a in anchors}))

    def fail(verified: int, head: int, first_bad: int, damage: str, message: str) -> VerifyResult:
        return VerifyResult(
            False, verified, head, first_bad, damage, message, top, len(anchors), sources
        )

    previous_hash, expected_seq, verified = GENESIS_HASH, 1, 0
    if start is not None:
        previous_hash, expected_seq = start.hash, start.seq + 1
    for event in events:
        bad = _classify(event, expected_seq, previous_hash, hash_exists)
        if bad is not None:
            damage, seq, message = bad
            return fail(verified, event.seq, seq, damage, message)
        for anchor in by_seq.get(event.seq, ()):
            if event.hash != anchor.hash:
                message = f"event differs from {anchor.source}"
                return fail(verified, event.seq, event.seq, "rebuilt", message)
        previous_hash, expected_seq, verified = event.hash, event.seq + 1, verified + 1
    head = expected_seq - 1
    if top is not None and top > head:
        beyond = next(a for a in anchors if a.seq == top)
        message = f"chain ends at {head}, before {beyond.source} at {top}"
        return fail(verified, head, head + 1, "truncated", message)
    message = "chain intact"
    return VerifyResult(True, verified, head, None, None, message, top, len(anchors), sources)


def _classify(
    event: StoredEvent, expected_seq: int, previous_hash: str, hash_exists: Callable[[str], bool]
) -> tuple[str, int, str] | None:
    if event.seq != expected_seq:
        return "missing", expected_seq, f"sequence jumps from {expected_seq - 1} to {event.seq}"
    if event_hash(event.prev_hash, EventFields.of(event)) != event.hash:
        return "edited", event.seq, "event content does not match its hash"
    if event.prev_hash != previous_hash:
        if hash_exists(event.prev_hash):
            return "reordered", event.seq, "event links to an event other than its predecessor"
        return "broken_link", event.seq, "event links to a hash found nowhere in the chain"
    return None
