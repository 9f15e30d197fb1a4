"""Signed checkpoints of the chain head.

A hash chain alone cannot show that its tail was cut off, or that the whole chain was
rebuilt by someone who can write to the database. A checkpoint — the head's sequence
number and hash, signed with an Ed25519 key the database never holds — published outside
the database (``audit.publish``) can: the chain must still contain that event with that
hash. A checkpoint is believed only if it verifies with the *trusted* public key, from
configuration or the key store (``audit.trust``); the ``public_key`` it carries is for
people reading the file, never what it is checked against.

This module is the data and its storage; ``audit.signing`` decides when to sign.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import checkpoint_message, timestamp
from fivesafes.audit.models import AuditCheckpoint
from fivesafes.db import utcnow
from fivesafes.errors import InvalidInputError
from fivesafes.keys.store import KeyStore

FORMAT = "fivesafes-audit-checkpoint/v1"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The portable form of a checkpoint (what `audit checkpoint --out` writes)."""

    seq: int
    hash: str
    created_at: str
    public_key: str  # base64 raw Ed25519 public key
    signature: str  # base64 signature over checkpoint_message(seq, hash)
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def signature_valid(self, trusted_public_key: str) -> bool:
        """Whether the signature was made by the trusted key over this seq and hash."""
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(trusted_public_key))
            key.verify(base64.b64decode(self.signature), checkpoint_message(self.seq, self.hash))
        except (InvalidSignature, ValueError):
            return False
        return True


def public_key_b64(keystore: KeyStore) -> str:
    """The store's audit verification key, base64 raw (the form checkpoints carry)."""
    return base64.b64encode(keystore.verification_key()).decode("ascii")


def sign_head(session: Session, keystore: KeyStore, seq: int, head: str) -> Checkpoint:
    """Sign ``seq``/``head`` and store the checkpoint (in the caller's transaction).

    Callers go through ``audit.signing``, which verifies the chain before signing. The
    store signs (in a token, the private key never reaches this process).
    """
    signature = base64.b64encode(keystore.sign(checkpoint_message(seq, head))).decode("ascii")
    row = AuditCheckpoint(
        seq=seq,
        hash=head,
        created_at=utcnow(),
        public_key=public_key_b64(keystore),
        signature=signature,
    )
    session.add(row)
    session.flush()
    return from_row(row)


def from_row(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(
        seq=row.seq,
        hash=row.hash,
        created_at=timestamp(row.created_at),
        public_key=row.public_key,
        signature=row.signature,
    )


def latest_checkpoint(session: Session) -> Checkpoint | None:
    """The newest checkpoint stored in the database: for display, never for trust."""
    row = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).first()
    return None if row is None else from_row(row)


def load_checkpoint(path: Path) -> Checkpoint:
    """Read an exported checkpoint; a malformed file is named with what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such checkpoint file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: not a checkpoint file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError(f"{path}: not a checkpoint file (format is not {FORMAT})")
    try:
        return Checkpoint(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            created_at=str(data["created_at"]),
            public_key=str(data["public_key"]),
            signature=str(data["signature"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"{path}: checkpoint field missing or invalid ({exc})") from None
