"""The ``FSR1`` re-identification blob: one patient's NHS number sealed by the
re-identification key, naming the key that sealed it::

    b"FSR1" | key id (8) | nonce (12) | ciphertext + GCM tag (16)

A separate key and format from the KEK's ``FSW1``: wrap/unwrap seal only 32-byte data
keys under AAD that names a key, and reusing them for patient identifiers would let a
blob of one kind be presented as the other. The AES-256-GCM associated data is
:func:`record_aad`, which binds a ciphertext to its row (dataset, pseudonym generation,
stored pseudonym): a ciphertext copied onto another row does not open, so rows cannot be
swapped to reveal the wrong patient.

Every store (in memory, local file, PKCS#11 token) writes the same format; the
software stores use :func:`software_seal`/:func:`software_open`, a token performs the same
``CKM_AES_GCM`` computation itself.
"""

from __future__ import annotations

import hmac
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fivesafes.errors import ConfigurationError
from fivesafes.keys.envelope import EnvelopeError

__all__ = [
    "KEY_ID_BYTES",
    "NONCE_BYTES",
    "REID_KEY_KIND",
    "REID_KEY_LABEL",
    "REID_KEY_NAME",
    "TAG_BYTES",
    "EnvelopeError",
    "missing_key",
    "pack",
    "record_aad",
    "software_open",
    "software_seal",
    "unpack",
]

REID_KEY_NAME: Final = "reidentification"
#: The token label of the key in a PKCS#11 store.
REID_KEY_LABEL: Final = "fivesafes-reidentification"
#: What ``keys status`` says the key is.
REID_KEY_KIND: Final = "AES-256-GCM re-identification key"

MAGIC: Final = b"FSR1"
KEY_ID_BYTES: Final = 8
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
KEY_BYTES: Final = 32
_HEADER: Final = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES
_AAD_PREFIX: Final = b"fivesafes/reid/v1/"


def missing_key(where: str) -> ConfigurationError:
    """The refusal every store gives when it holds no re-identification key."""
    return ConfigurationError(
        f"{where} holds no re-identification key: run `fivesafes keys init-reidentification`"
    )


def record_aad(dataset_id: int, generation: int, pseudonym: str) -> bytes:
    """The associated data binding a sealed NHS number to its record's row."""
    if isinstance(dataset_id, bool) or isinstance(generation, bool):
        raise EnvelopeError("a record's dataset id and generation are integers")
    if not pseudonym or "/" in pseudonym or not pseudonym.isascii():
        raise EnvelopeError("a record's pseudonym is a non-empty ASCII string without '/'")
    return _AAD_PREFIX + b"%d/%d/%s" % (int(dataset_id), int(generation), pseudonym.encode())


def pack(key_id: bytes, nonce: bytes, sealed: bytes) -> bytes:
    """Assemble a blob from its parts (lengths checked: a short part is a bug, not data)."""
    if len(key_id) != KEY_ID_BYTES:
        raise EnvelopeError(f"a re-identification key id is {KEY_ID_BYTES} bytes")
    if len(nonce) != NONCE_BYTES:
        raise EnvelopeError(f"a re-identification nonce is {NONCE_BYTES} bytes")
    if len(sealed) < TAG_BYTES:
        raise EnvelopeError("a sealed re-identification value is at least its GCM tag")
    return MAGIC + bytes(key_id) + bytes(nonce) + bytes(sealed)


def unpack(blob: bytes) -> tuple[bytes, bytes, bytes]:
    """``(key_id, nonce, sealed)`` of a blob; :class:`EnvelopeError` if it is not one."""
    blob = bytes(blob)
    if len(blob) < _HEADER + TAG_BYTES or not blob.startswith(MAGIC):
        raise EnvelopeError(f"not a fivesafes re-identification blob (expected {MAGIC!r})")
    at = len(MAGIC)
    return blob[at : at + KEY_ID_BYTES], blob[at + KEY_ID_BYTES : _HEADER], blob[_HEADER:]


def software_seal(key: bytes, key_id: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """An ``FSR1`` blob of ``plaintext`` under a key this process holds."""
    if len(key) != KEY_BYTES:
        raise EnvelopeError("the re-identification key must be 32 bytes (AES-256)")
    return pack(key_id, nonce, AESGCM(key).encrypt(nonce, bytes(plaintext), aad))


def software_open(key: bytes, key_id: bytes, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of an ``FSR1`` blob; :class:`EnvelopeError` if it does not authenticate.

    The message never shows the blob or what it holds.
    """
    blob_key, nonce, sealed = unpack(blob)
    if not hmac.compare_digest(blob_key, key_id):
        raise EnvelopeError(
            f"re-identification blob was sealed by key {blob_key.hex()}, "
            f"not by this store's key {key_id.hex()}"
        )
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise EnvelopeError(
            "re-identification blob does not authenticate: altered, or not this record's"
        ) from None
