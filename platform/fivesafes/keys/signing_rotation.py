"""Rotating the audit-signing key: old checkpoints keep verifying, new ones use the new key.

The steps, in the order that makes every crash recoverable by running the command again:

1. make the next key beside the current one (a file ``audit_signing.next.key``, or a token
   pair labelled ``fivesafes-audit-signing-next``) - or reuse the one a crashed run made;
2. sign a final checkpoint with the OLD key (the caller's ``final_checkpoint``: it needs
   the database, which this layer does not reach), so everything up to the rotation is
   covered by it; its seq becomes the retired key's ``last_seq``;
3. append the old key's retirement record, attested by the NEXT key, to
   ``audit_signing.retired.json`` (atomically). Until step 4 the old key is still current
   and verifiers ignore that trailing record (``keys.retired.attested_chain``);
4. put the next key in force and destroy the old private key (rename over the key file
   then shred the old one; or destroy the old token pair and relabel the next one).

A rerun finds the state by looking: a next key with its record written resumes at step
4; a next key without one resumes at step 2 (a new final checkpoint, which the new
record then covers); a half-shredded old file is shredded. A rotation with no database
records ``last_seq`` as unknown, and a retired key then bounds checkpoints by time only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from fivesafes.errors import ConfigurationError
from fivesafes.keys.retired import (
    RETIRED_FILE,
    RetiredKey,
    Retirement,
    append_retirement,
    attested_chain,
    folder_lock,
    read_retired_file,
)
from fivesafes.keys.store import KeyStore, public_key_fingerprint


@runtime_checkable
class RotatableSigningStore(KeyStore, Protocol):
    """A key store whose audit-signing key can be rotated (local files, PKCS#11)."""

    path: Path

    def signing_key_created(self) -> datetime | None: ...
    def signing_successor(self) -> bytes | None: ...
    def begin_signing_rotation(self) -> bytes: ...
    def sign_as_successor(self, message: bytes) -> bytes: ...
    def finish_signing_rotation(self, step: Callable[[str], None] = ...) -> bool: ...


@dataclass(frozen=True, slots=True)
class SigningRotation:
    """What a rotation did: for the command's output and its audit event."""

    old_fingerprint: str
    new_fingerprint: str
    last_seq: int | None
    retired: RetiredKey
    resumed: bool  # True: it completed a rotation that a crash had interrupted


#: Called with the name of each step as it completes (tests crash the process there).
StepHook = Callable[[str], None]


def _no_step(_: str) -> None:
    return None


def rotate_signing_key(
    store: RotatableSigningStore,
    *,
    final_checkpoint: Callable[[], int | None],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    step: StepHook = _no_step,
) -> SigningRotation:
    """Rotate ``store``'s audit-signing key (or finish a rotation a crash interrupted).

    ``final_checkpoint`` signs the chain head with the current (old) key and returns its
    seq, or None when there is no database to checkpoint; it is called only when the
    old key is still in force and its retirement not yet recorded.
    """
    path = store.path / RETIRED_FILE
    with folder_lock(store.path):
        successor = store.signing_successor()
        records = read_retired_file(path) if path.exists() else ()
        if successor is None and store.finish_signing_rotation(step):
            # A rotation put its key in force and crashed while shredding the old one.
            current = store.verification_key()
            chain = attested_chain(records, current, str(path))
            if not chain:
                raise ConfigurationError(f"{path}: no record of the key this rotation retired")
            return _done(chain[-1], current, resumed=True)
        if successor is not None and records and records[-1].attested_by(successor):
            # The old key's retirement is recorded: only putting the next key in force is left.
            attested_chain(records, successor, str(path))
            store.finish_signing_rotation(step)
            return _done(records[-1], successor, resumed=True)
        old_public = store.verification_key()
        chain = attested_chain(records, old_public, str(path))  # refuse a bad file up front
        resumed = successor is not None
        if successor is None:
            successor = store.begin_signing_rotation()
        step("successor")
        last_seq = final_checkpoint()
        step("final_checkpoint")
        valid_from = chain[-1].valid_until if chain else store.signing_key_created()
        record = append_retirement(
            path,
            Retirement(old_public, valid_from, now(), last_seq),
            signer=store.sign_as_successor,
            successor_public_key=successor,
        )
        step("recorded")
        store.finish_signing_rotation(step)
        step("finished")
        return _done(record, successor, resumed=resumed)


def _done(record: RetiredKey, successor: bytes, *, resumed: bool) -> SigningRotation:
    return SigningRotation(
        old_fingerprint=record.fingerprint,
        new_fingerprint=public_key_fingerprint(successor),
        last_seq=record.last_seq,
        retired=record,
        resumed=resumed,
    )
