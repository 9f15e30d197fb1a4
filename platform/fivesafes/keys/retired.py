"""Retired audit-signing keys: the public keys that signed old checkpoints, and who vouches.

After ``keys rotate audit-signing`` (or a migration to an HSM) old checkpoints are still
signed by the old key, so a verifier needs its public half. Where that comes from is the
whole question: the database is never trusted for keys (whoever writes it could add a key
of their own), and neither, by itself, is the key folder. So each retirement is a record

    {public key, fingerprint, valid_from, valid_until, last_seq, successor fingerprint}

*attested* - signed over its RFC 8785 canonical JSON - by the key that replaced it. A
retired key is believed only if its record is attested by its successor, whose record is
attested by its successor, and so on up to the CURRENT trusted key (the key store's, or
``FIVESAFES_AUDIT_PUBLIC_KEY``): adding a key to the chain needs the current private key.

``last_seq`` is the audit chain head when the key was retired: a checkpoint signed by a
retired key is accepted only up to it, so a retired private key that leaks cannot sign
new checkpoints. The validity period is checked too, but checkpoints' times come from the
database and could lie; the sequence number is the real bound.

The records live oldest first in ``<keystore_path>/audit_signing.retired.json`` (0600,
written atomically), the file ``keys export-public`` copies for offline verifiers.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import rfc8785

from fivesafes.errors import ConfigurationError
from fivesafes.keys.private_files import replace_private
from fivesafes.keys.store import InMemoryKeyStore, ed25519_verifies, public_key_fingerprint

if TYPE_CHECKING:
    from fivesafes.keys.store import KeyStore

RETIRED_FILE: Final = "audit_signing.retired.json"
FILE_FORMAT: Final = "fivesafes-audit-retired-keys/v1"
#: The ``kind`` inside every attested record: no checkpoint message can be mistaken for it.
RECORD_KIND: Final = "fivesafes-audit-retired-key/v1"
_PUBLIC_KEY_BYTES: Final = 32
_SIGNATURE_BYTES: Final = 64
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
_FIELDS: Final = frozenset(
    {
        "public_key",
        "fingerprint",
        "valid_from",
        "valid_until",
        "last_seq",
        "successor_fingerprint",
        "attestation",
    }
)


class RetiredKeysError(ConfigurationError):
    """A retired-keys file that cannot be trusted: its message names the file and why."""

    code = "retired_keys_refused"


@dataclass(frozen=True)
class RetiredKey:
    """One retired audit-signing public key, attested by the key that replaced it."""

    public_key: bytes
    fingerprint: str
    valid_from: datetime | None
    valid_until: datetime
    last_seq: int | None
    successor_fingerprint: str
    attestation: bytes

    def attested_message(self) -> bytes:
        """The bytes the successor signs: the record without its attestation, canonical."""
        return rfc8785.dumps({"kind": RECORD_KIND, **self._fields()})

    def _fields(self) -> dict[str, Any]:
        return {
            "public_key": base64.b64encode(self.public_key).decode("ascii"),
            "fingerprint": self.fingerprint,
            "valid_from": None if self.valid_from is None else _format_time(self.valid_from),
            "valid_until": _format_time(self.valid_until),
            "last_seq": self.last_seq,
            "successor_fingerprint": self.successor_fingerprint,
        }

    def as_json(self) -> dict[str, Any]:
        """The record as the file holds it."""
        attestation = base64.b64encode(self.attestation).decode("ascii")
        return self._fields() | {"attestation": attestation}

    def attested_by(self, successor_public_key: bytes) -> bool:
        """Whether ``successor_public_key`` signed this record (and is the successor named)."""
        if public_key_fingerprint(successor_public_key) != self.successor_fingerprint:
            return False
        return ed25519_verifies(successor_public_key, self.attestation, self.attested_message())

    def signed(self, signature: bytes, message: bytes) -> bool:
        """Whether this retired key made ``signature`` over ``message``."""
        return ed25519_verifies(self.public_key, signature, message)

    def refusal(self, seq: int, created_at: datetime | None) -> str | None:
        """None if a checkpoint at ``seq`` made at ``created_at`` is within this key's life;
        otherwise why not (for the verifier's message)."""
        if self.last_seq is not None and seq > self.last_seq:
            return (
                f"signed by retired key {self.fingerprint} after its retirement "
                f"(seq {seq} is beyond its last_seq {self.last_seq})"
            )
        if created_at is None:
            return f"signed by retired key {self.fingerprint} at an unreadable time"
        # Only the end of the period is enforced. Nothing can be signed by a key before it
        # exists, so an early time proves no forgery; but ``valid_from`` of a key file is
        # its modification time, which a restore from backup moves, and enforcing it would
        # then refuse genuine checkpoints. It is kept for people reading the record.
        if created_at > self.valid_until:
            start = "-" if self.valid_from is None else _format_time(self.valid_from)
            return (
                f"signed by retired key {self.fingerprint} at {_format_time(created_at)}, "
                f"after its validity {start} .. {_format_time(self.valid_until)}"
            )
        return None


# -- reading and checking -----------------------------------------------------------------


def read_retired_file(path: Path) -> tuple[RetiredKey, ...]:
    """The records of a retired-keys file, oldest first, NOT yet checked for attestation.

    Every field is checked for shape here; :func:`attested_chain` decides trust.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RetiredKeysError(f"{path}: no such retired-keys file") from None
    except OSError as exc:
        raise RetiredKeysError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RetiredKeysError(f"{path}: not a retired-keys file (not JSON)") from None
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
        raise RetiredKeysError(f"{path}: not a retired-keys file (format is not {FILE_FORMAT})")
    if set(data) != {"format", "keys"} or not isinstance(data["keys"], list):
        raise RetiredKeysError(f"{path}: a retired-keys file holds exactly format and keys")
    return tuple(_record(entry, f"{path}: record {i + 1}") for i, entry in enumerate(data["keys"]))


def attested_chain(
    records: Sequence[RetiredKey], current_public_key: bytes, where: str
) -> tuple[RetiredKey, ...]:
    """``records`` if each is attested by its successor up to ``current_public_key``.

    Walks from the newest record back: the newest must be attested by the current key,
    each older one by the key of the record after it. Anything else (a record edited, not
    attested, attested by a key outside the chain, out of order, a key twice) refuses the
    whole file with :class:`RetiredKeysError` naming ``where``: a partly trusted file
    would let old checkpoints pass or fail depending on which record was tampered with.

    One trailing record retiring the current key itself is a rotation in progress (its
    successor not yet in force): it vouches for nothing the current key does not, so it
    is left out rather than refused, and a rerun of the rotation completes it.
    """
    chain = list(records)
    if chain and chain[-1].public_key == current_public_key:
        chain.pop()
    current = public_key_fingerprint(current_public_key)
    for position, record in enumerate(chain, start=1):
        if record.fingerprint == current:
            raise RetiredKeysError(
                f"{where}: the trusted key {current} was itself retired (record {position}): "
                "a stale trusted key; give the current one (keys export-public)"
            )
    fingerprints = [r.fingerprint for r in chain] + [current]
    if len(set(fingerprints)) != len(fingerprints):
        raise RetiredKeysError(f"{where}: a key appears twice in the chain of retired keys")
    successor = current_public_key
    for position in range(len(chain) - 1, -1, -1):
        record = chain[position]
        label = f"{where}: record {position + 1} (key {record.fingerprint})"
        expected = public_key_fingerprint(successor)
        if record.successor_fingerprint != expected:
            newest = position == len(chain) - 1
            whose = "the trusted current key" if newest else "the key of the record after it"
            raise RetiredKeysError(
                f"{label} names successor {record.successor_fingerprint}, but {whose} is "
                f"{expected} (records out of order or missing, or a stale trusted key)"
            )
        if not record.attested_by(successor):
            raise RetiredKeysError(
                f"{label}: its attestation does not verify with its successor {expected} "
                "(the record was edited or was not signed by the key that replaced it)"
            )
        successor = record.public_key
    for position, (older, record) in enumerate(pairwise(chain), start=2):
        if older.valid_until > record.valid_until or (
            older.last_seq is not None
            and record.last_seq is not None
            and older.last_seq > record.last_seq
        ):
            raise RetiredKeysError(
                f"{where}: record {position} (key {record.fingerprint}) was retired before "
                "the key it replaced"
            )
    return tuple(chain)


def trusted_retired_keys(path: Path, current_public_key: bytes) -> tuple[RetiredKey, ...]:
    """The attested records of the file at ``path``; an empty tuple if there is none."""
    if not path.exists():
        return ()
    return attested_chain(read_retired_file(path), current_public_key, str(path))


# -- recording a retirement ---------------------------------------------------------------


@runtime_checkable
class FolderKeyStore(Protocol):
    """A key store with a folder of its own (local files, or a token's wrapped keys)."""

    path: Path


def retired_keys_path(store: object) -> Path | None:
    """Where ``store`` keeps its retired-keys file; None for a store without a folder."""
    if isinstance(store, FolderKeyStore):
        return Path(store.path) / RETIRED_FILE
    return None


@dataclass(frozen=True, slots=True)
class Retirement:
    """What the caller knows of a key it retires: the record before it is attested."""

    old_public_key: bytes
    valid_from: datetime | None
    valid_until: datetime
    last_seq: int | None

    def attested(self, signer: Callable[[bytes], bytes], successor_public_key: bytes) -> RetiredKey:
        """The record, attested by ``signer`` (see :func:`make_record`)."""
        return make_record(
            signer,
            successor_public_key,
            self.old_public_key,
            self.valid_from,
            self.valid_until,
            self.last_seq,
        )


def retire_signing_key(
    store: KeyStore,
    *,
    old_public_key: bytes,
    valid_from: datetime | None,
    valid_until: datetime,
    last_seq: int | None,
    inherited: Sequence[RetiredKey] = (),
) -> RetiredKey:
    """Record that ``old_public_key`` was replaced by ``store``'s current signing key.

    The record is attested by ``store.sign`` and appended to the store's retired-keys
    file (or kept in memory by an in-memory store). The records already there must lead
    to ``old_public_key``; ``inherited`` (the old store's records, for a migration into a
    store whose folder has none yet) is used when the file does not exist. Calling it
    again with the same old key returns the record already made.
    """
    retirement = Retirement(old_public_key, valid_from, valid_until, last_seq)
    successor = store.verification_key()
    path = retired_keys_path(store)
    if path is None:
        if not isinstance(store, InMemoryKeyStore):
            raise ConfigurationError(f"{store.describe()} cannot keep retired keys")
        existing = store.retired_verification_keys()
        done = _already_recorded(existing, old_public_key, successor)
        if done is not None:
            return done
        record = retirement.attested(store.sign, successor)
        attested_chain([*existing, record], successor, store.describe())
        store.add_retired_key(record)
        return record
    with folder_lock(path.parent):
        return append_retirement(
            path,
            retirement,
            signer=store.sign,
            successor_public_key=successor,
            inherited=inherited,
        )


def append_retirement(
    path: Path,
    retirement: Retirement,
    *,
    signer: Callable[[bytes], bytes],
    successor_public_key: bytes,
    inherited: Sequence[RetiredKey] = (),
) -> RetiredKey:
    """Append (atomically) ``retirement``'s record, attested by ``signer``.

    ``signer`` is the successor's signing operation: the rotation passes the key that is
    not yet in force. The caller holds :func:`folder_lock`.
    """
    old_public_key = retirement.old_public_key
    existing = read_retired_file(path) if path.exists() else tuple(inherited)
    done = _already_recorded(existing, old_public_key, successor_public_key)
    if done is not None:
        attested_chain(existing, successor_public_key, str(path))
        return done
    if existing and existing[-1].public_key == old_public_key:
        existing = existing[:-1]  # an abandoned rotation's record: replaced by this one
    attested_chain(existing, old_public_key, str(path))
    record = retirement.attested(signer, successor_public_key)
    records = (*existing, record)
    attested_chain(records, successor_public_key, str(path))
    write_retired_file(path, records)
    return record


def make_record(
    signer: Callable[[bytes], bytes],
    successor_public_key: bytes,
    old_public_key: bytes,
    valid_from: datetime | None,
    valid_until: datetime,
    last_seq: int | None,
) -> RetiredKey:
    """A retirement record attested by ``signer`` (the successor's private key)."""
    if len(old_public_key) != _PUBLIC_KEY_BYTES:
        raise ConfigurationError(f"an Ed25519 public key is {_PUBLIC_KEY_BYTES} bytes")
    if old_public_key == successor_public_key:
        raise ConfigurationError("a signing key cannot succeed itself")
    if valid_until.tzinfo is None or (valid_from is not None and valid_from.tzinfo is None):
        raise ConfigurationError("retirement times must be timezone-aware (UTC)")
    if valid_from is not None and valid_from > valid_until:
        raise ConfigurationError("a retired key's valid_from is after its valid_until")
    if last_seq is not None and last_seq < 0:
        raise ConfigurationError("a retired key's last_seq cannot be negative")
    unsigned = RetiredKey(
        public_key=bytes(old_public_key),
        fingerprint=public_key_fingerprint(old_public_key),
        valid_from=_utc(valid_from) if valid_from is not None else None,
        valid_until=_utc(valid_until),
        last_seq=last_seq,
        successor_fingerprint=public_key_fingerprint(successor_public_key),
        attestation=b"",
    )
    signature = signer(unsigned.attested_message())
    record = replace(unsigned, attestation=bytes(signature))
    if not record.attested_by(successor_public_key):
        raise ConfigurationError("the successor key's attestation does not verify")
    return record


def encode_retired_file(records: Sequence[RetiredKey]) -> bytes:
    """The file's bytes (what ``keys export-public`` copies beside the PEM)."""
    document = {"format": FILE_FORMAT, "keys": [r.as_json() for r in records]}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_retired_file(path: Path, records: Sequence[RetiredKey]) -> None:
    """Replace ``path`` with ``records`` atomically (0600): a crash leaves old or new."""
    replace_private(path, encode_retired_file(records))


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on the key folder: one rotation or retirement at a time."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:
        raise ConfigurationError(f"no key store folder at {folder}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


# -- helpers ------------------------------------------------------------------------------


def _already_recorded(
    existing: Sequence[RetiredKey], old_public_key: bytes, successor: bytes
) -> RetiredKey | None:
    if not existing:
        return None
    last = existing[-1]
    if last.public_key == old_public_key and last.attested_by(successor):
        return last
    return None


def _record(entry: object, where: str) -> RetiredKey:
    if not isinstance(entry, dict):
        raise RetiredKeysError(f"{where}: not an object")
    missing = sorted(_FIELDS - set(entry))
    extra = sorted(set(entry) - _FIELDS)
    if missing or extra:
        raise RetiredKeysError(
            f"{where}: fields missing ({', '.join(missing) or 'none'}) "
            f"or unknown ({', '.join(extra) or 'none'})"
        )
    public_key = _b64(entry["public_key"], _PUBLIC_KEY_BYTES, f"{where}: public_key")
    fingerprint = _text(entry["fingerprint"], f"{where}: fingerprint")
    if fingerprint != public_key_fingerprint(public_key):
        raise RetiredKeysError(f"{where}: fingerprint is not that of its public_key")
    last_seq = entry["last_seq"]
    if last_seq is not None and (
        not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0
    ):
        raise RetiredKeysError(f"{where}: last_seq is not a sequence number or null")
    valid_from = entry["valid_from"]
    record = RetiredKey(
        public_key=public_key,
        fingerprint=fingerprint,
        valid_from=None if valid_from is None else _time(valid_from, f"{where}: valid_from"),
        valid_until=_time(entry["valid_until"], f"{where}: valid_until"),
        last_seq=last_seq,
        successor_fingerprint=_text(
            entry["successor_fingerprint"], f"{where}: successor_fingerprint"
        ),
        attestation=_b64(entry["attestation"], _SIGNATURE_BYTES, f"{where}: attestation"),
    )
    if record.valid_from is not None and record.valid_from > record.valid_until:
        raise RetiredKeysError(f"{where}: valid_from is after valid_until")
    return record


def _b64(value: object, size: int, where: str) -> bytes:
    if not isinstance(value, str):
        raise RetiredKeysError(f"{where}: not base64 text")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RetiredKeysError(f"{where}: not base64") from None
    if len(raw) != size:
        raise RetiredKeysError(f"{where}: {len(raw)} bytes, expected {size}")
    return raw


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise RetiredKeysError(f"{where}: not text")
    return value


def _time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise RetiredKeysError(f"{where}: not a time")
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise RetiredKeysError(f"{where}: not a UTC time (2026-12-03T15:00:00.000000Z)") from None


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC, as the file's text form keeps it (to the microsecond)."""
    return moment.astimezone(UTC)
