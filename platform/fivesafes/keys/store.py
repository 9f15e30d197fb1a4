"""The :class:`KeyStore` protocol every key adapter implements, and an in-memory adapter.

Callers ask for a secret by name; where it lives (a 0600 file, a KMS, an HSM) is the
adapter's business. Names are a closed set so that a typo fails loudly instead of silently
creating a new, unrelated key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fivesafes.errors import ConfigurationError

KeyName = Literal["pseudonym", "date_shift", "kek", "audit_signing"]

#: Every key the platform uses, and why. ``audit_signing`` is an Ed25519 private key seed.
KEY_NAMES: dict[KeyName, str] = {
    "pseudonym": "HMAC-SHA256 key for dataset pseudonyms (changes only by planned re-mapping)",
    "date_shift": "HMAC-SHA256 key for per-patient date-shift offsets",
    "kek": "AES-256 key-encryption key wrapping the data keys of encrypted spool files",
    "audit_signing": "Ed25519 seed signing audit-chain checkpoints",
}

KEY_BYTES = 32


@runtime_checkable
class KeyStore(Protocol):
    """Where the platform's secrets come from."""

    def secret(self, name: KeyName) -> bytes:
        """The raw bytes of the named key; :class:`ConfigurationError` if unavailable."""
        ...

    def describe(self) -> str:
        """A human-readable location for messages (never the key material)."""
        ...


def signing_key(store: KeyStore) -> Ed25519PrivateKey:
    """The audit-signing key as an Ed25519 private key."""
    return Ed25519PrivateKey.from_private_bytes(store.secret("audit_signing"))


def key_id(secret: bytes) -> str:
    """A short public fingerprint of a key, for reports: which key was used, not what it is.

    It is an HMAC under the key itself, so it reveals nothing usable about the key while
    letting an auditor tell two extracts pseudonymised under different keys apart.
    """
    return hmac.new(secret, b"fivesafes/key-id/v1", hashlib.sha256).hexdigest()[:16]


class InMemoryKeyStore:
    """Keys held in memory: for tests and for callers that already hold the key material."""

    def __init__(self, keys: dict[KeyName, bytes] | None = None) -> None:
        self._keys: dict[KeyName, bytes] = dict(keys) if keys is not None else {}

    @classmethod
    def generate(cls) -> InMemoryKeyStore:
        """A store with fresh random keys for every name."""
        return cls({name: secrets.token_bytes(KEY_BYTES) for name in KEY_NAMES})

    def secret(self, name: KeyName) -> bytes:
        try:
            return self._keys[name]
        except KeyError:
            raise ConfigurationError(f"key {name!r} is not in the in-memory key store") from None

    def describe(self) -> str:
        return "in-memory key store"
