"""The public keys audit checkpoints are checked against: configuration or the key store.

Never the database: whoever can write the database could store a checkpoint signed with a
key of their own, with that key beside it. ``FIVESAFES_AUDIT_PUBLIC_KEY`` (base64 raw
Ed25519) lets a verifier that holds no private key - an auditor's machine, a second
server - check checkpoints; without it the public half of the key store's
``audit_signing`` key is used.

After a rotation, old checkpoints are signed by retired keys. Those are trusted only
through the chain of attestations in the retired-keys file (``keys.retired``) that leads
to the current trusted key, and only for checkpoints up to each key's ``last_seq``: the
file comes from ``--retired-keys`` / ``FIVESAFES_AUDIT_RETIRED_KEYS_FILE`` (an offline
verifier's copy, written by ``keys export-public``) or else the key store's folder.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fivesafes.audit.chain import checkpoint_message
from fivesafes.audit.checkpoints import Checkpoint, public_key_b64
from fivesafes.config import Settings
from fivesafes.errors import ConfigurationError
from fivesafes.keys.retired import RetiredKey, attested_chain, read_retired_file
from fivesafes.keys.store import KeyStore

_RAW_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class TrustedKeys:
    """The current trusted key (base64 raw) and the retired keys attested up to it."""

    current: str
    retired: tuple[RetiredKey, ...] = ()

    @classmethod
    def of(cls, value: TrustedKeys | str) -> TrustedKeys:
        """``value`` as trusted keys: a bare base64 key is the current key alone."""
        return value if isinstance(value, TrustedKeys) else cls(value)

    def verifies(self, checkpoint: Checkpoint) -> bool:
        """Whether ``checkpoint`` was signed by a trusted key within that key's life."""
        return self.refusal(checkpoint) is None

    def refusal(self, checkpoint: Checkpoint) -> str | None:
        """None if ``checkpoint`` verifies; otherwise why not, for the verifier's message.

        The current key signs any checkpoint. A retired key signs only checkpoints up to
        its ``last_seq`` (its private key may leak after retirement) and made within its
        validity period (times come from the checkpoint, so that bound is a weaker one).
        """
        if checkpoint.signature_valid(self.current):
            return None
        try:
            signature = base64.b64decode(checkpoint.signature, validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        message = checkpoint_message(checkpoint.seq, checkpoint.hash)
        for retired in self.retired:
            if retired.signed(signature, message):
                return retired.refusal(checkpoint.seq, _moment(checkpoint.created_at))
        if self.retired:
            return "signature does not verify with the trusted public key or any retired key"
        return "signature does not verify with the trusted public key"


def parse_public_key(value: str, where: str) -> str:
    """``value`` as canonical base64 of a 32-byte Ed25519 key; a clear error otherwise."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{where}: not base64") from None
    if len(raw) != _RAW_KEY_BYTES:
        raise ConfigurationError(
            f"{where}: an Ed25519 public key is {_RAW_KEY_BYTES} bytes, not {len(raw)}"
        )
    return base64.b64encode(raw).decode("ascii")


def trusted_public_key(settings: Settings, keystore: KeyStore | None) -> str:
    """The key checkpoints must verify with; :class:`ConfigurationError` if there is none."""
    if settings.audit_public_key:
        return parse_public_key(settings.audit_public_key, "FIVESAFES_AUDIT_PUBLIC_KEY")
    if keystore is None:
        raise ConfigurationError(
            "no trusted audit public key: set FIVESAFES_AUDIT_PUBLIC_KEY or give a key store"
        )
    return public_key_b64(keystore)


def trusted_keys(
    settings: Settings,
    keystore: KeyStore | None,
    *,
    current: str | None = None,
    retired_file: Path | None = None,
) -> TrustedKeys:
    """The current trusted key and the retired keys whose attestations lead to it.

    ``current`` (``--trusted-key``) overrides the configured key; the retired keys come
    from ``retired_file`` (``--retired-keys``), else ``FIVESAFES_AUDIT_RETIRED_KEYS_FILE``,
    else the key store. A file that does not lead to the current key is refused
    (:class:`~fivesafes.keys.retired.RetiredKeysError`, naming the file).
    """
    key = current if current is not None else trusted_public_key(settings, keystore)
    source = retired_file if retired_file is not None else settings.audit_retired_keys_file
    if source is not None:
        records: tuple[RetiredKey, ...] = read_retired_file(source)
        where = str(source)
    elif keystore is not None:
        records = keystore.retired_verification_keys()
        where = keystore.describe()
    else:
        records, where = (), ""
    return TrustedKeys(key, attested_chain(records, base64.b64decode(key), where))


def store_trusted_keys(keystore: KeyStore) -> TrustedKeys:
    """What the key store itself vouches for: its key and its attested retired keys."""
    return TrustedKeys(public_key_b64(keystore), keystore.retired_verification_keys())


def _moment(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
