"""The public key audit checkpoints are checked against: configuration or the key store.

Never the database: whoever can write the database could store a checkpoint signed with a
key of their own, with that key beside it. ``FIVESAFES_AUDIT_PUBLIC_KEY`` (base64 raw
Ed25519) lets a verifier that holds no private key - an auditor's machine, a second
server - check checkpoints; without it the public half of the key store's
``audit_signing`` key is used.
"""

from __future__ import annotations

import base64
import binascii

from fivesafes.audit.checkpoints import public_key_b64
from fivesafes.config import Settings
from fivesafes.errors import ConfigurationError
from fivesafes.keys.store import KeyStore

_RAW_KEY_BYTES = 32


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
