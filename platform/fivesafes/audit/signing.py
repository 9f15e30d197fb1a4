"""When a checkpoint may be signed: only after the chain since the last one verifies.

A signature over a damaged chain would bless the damage: a later verifier would find the
rebuilt or shortened chain matching a genuine signature. So signing takes the chain's
append lock (the head cannot move meanwhile), verifies every event since the newest
trusted checkpoint (published or stored, checked with the signing key's public half and
the retired keys it attests, ``audit.trust``), signs the head, publishes the checkpoint
outside the database and stores it.

Sign before appending anything in the same transaction: the head signed must be a
committed one, or a rolled-back transaction would leave a published checkpoint of an
event that never was (the API and CLI sign first, then record that they did; the
recorder marks the transaction, and signing refuses one it has marked).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from fivesafes.audit.checkpoints import Checkpoint, sign_head
from fivesafes.audit.publish import CheckpointPublisher, published_checkpoints
from fivesafes.audit.recorder import appended_in_this_transaction, chain_head, lock_chain
from fivesafes.audit.trust import TrustedKeys, store_trusted_keys
from fivesafes.audit.verify import (
    Anchor,
    BadCheckpointError,
    VerifyResult,
    anchors_from,
    stored_checkpoints,
    verify_since,
)
from fivesafes.errors import ConflictError, InvalidInputError
from fivesafes.keys.store import KeyStore

log = logging.getLogger("fivesafes.audit")


class ChainDamagedError(ConflictError):
    """The chain since the last checkpoint does not verify: nothing is signed."""

    def __init__(self, result: VerifyResult) -> None:
        super().__init__(
            f"audit chain damaged ({result.damage} at seq {result.first_bad_seq}: "
            f"{result.message}); no checkpoint signed",
            code="audit_chain_damaged",
        )
        self.result = result


def _last_trusted(
    session: Session, trusted: TrustedKeys, publisher: CheckpointPublisher | None
) -> Anchor | None:
    checkpoints = stored_checkpoints(session)
    if publisher is not None:
        try:
            published = published_checkpoints(publisher.directory)
        except InvalidInputError as exc:
            raise ChainDamagedError(
                VerifyResult(False, 0, 0, None, "bad_checkpoint", str(exc))
            ) from None
        checkpoints += [(f"published {p.path.name}", p.checkpoint) for p in published]
    try:
        anchors = anchors_from(checkpoints, trusted)
    except BadCheckpointError as bad:
        raise ChainDamagedError(bad.result) from None
    return max(anchors, key=lambda a: a.seq, default=None)


def _require_committed_head(session: Session) -> None:
    if appended_in_this_transaction(session):
        raise RuntimeError("sign the audit head before appending to it in the same transaction")


def make_checkpoint(
    session: Session, keystore: KeyStore, publisher: CheckpointPublisher | None
) -> Checkpoint:
    """Verify since the last checkpoint, sign the head, publish it, store it (flushed).

    :class:`ChainDamagedError` (409) if the chain does not verify. ``publisher`` None
    stores the checkpoint in the database only (tests and tools that export it themselves).
    """
    _require_committed_head(session)
    signer = store_trusted_keys(keystore)
    lock_chain(session)
    seq, head = chain_head(session)
    result = verify_since(session, _last_trusted(session, signer, publisher))
    if not result.ok:
        log.error(
            "audit chain damaged: %s at seq %s (%s); checkpoint refused",
            result.damage,
            result.first_bad_seq,
            result.message,
        )
        raise ChainDamagedError(result)
    made = sign_head(session, keystore, seq, head)
    if publisher is not None:
        publisher.publish(made)
    return made


def checkpoint_if_advanced(
    session: Session, keystore: KeyStore, publisher: CheckpointPublisher | None
) -> Checkpoint | None:
    """The periodic checkpoint: only when events were appended since the last one.

    It records no audit event of its own, or every period would advance the head again.
    Damage is logged (by :func:`make_checkpoint`) and nothing is signed.
    """
    seq, _ = chain_head(session)
    try:
        # Trusted checkpoints only: a forged row claiming a later seq must not stop them.
        last = _last_trusted(session, store_trusted_keys(keystore), publisher)
        if last is not None and last.seq >= seq:
            return None
        return make_checkpoint(session, keystore, publisher)
    except ChainDamagedError as exc:
        log.error("periodic audit checkpoint refused: %s", exc)
        return None
