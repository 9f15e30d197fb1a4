"""The ``FSW1`` wrapped-key blob: a data key sealed by the KEK, naming the KEK that sealed it.

Every key store (local files, PKCS#11 token) writes the same format, so a wrapped key can
be moved between stores by rewrapping alone, and a reader can tell *which* KEK a blob
needs before it tries one (KEK rotation keeps old blobs readable until they are rewrapped)::

    b"FSW1" | kek id (8) | nonce (12) | ciphertext + GCM tag (32 + 16)

The AES-256-GCM associated data is :func:`wrap_aad` of the key's name, so a blob wrapped
as the pseudonym key does not unwrap as the date-shift key: swapping the two files is an
authentication failure, not a silent change of every pseudonym.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fivesafes.keys.envelope import EnvelopeError

__all__ = [
    "BLOB_BYTES",
    "EnvelopeError",
    "pack_blob",
    "software_open",
    "software_seal",
    "unpack_blob",
    "wrap_aad",
]

MAGIC = b"FSW1"
KEK_ID_BYTES = 8
NONCE_BYTES = 12
TAG_BYTES = 16
#: Data keys are AES-256 / HMAC-SHA256 keys: 32 bytes, sealed with a 16-byte tag.
DATA_KEY_BYTES = 32
SEALED_BYTES = DATA_KEY_BYTES + TAG_BYTES
BLOB_BYTES = len(MAGIC) + KEK_ID_BYTES + NONCE_BYTES + SEALED_BYTES

_AAD_PREFIX = b"fivesafes/wrap/v1/"


def wrap_aad(name: str) -> bytes:
    """The associated data binding a wrapped blob to the key name it was wrapped as."""
    if not name or "\x00" in name:
        raise EnvelopeError("a wrapped key's name must be a non-empty string without NUL")
    return _AAD_PREFIX + name.encode("utf-8")


def pack_blob(kek_id: bytes, nonce: bytes, sealed: bytes) -> bytes:
    """Assemble a blob from its parts (lengths checked: a short part is a bug, not data)."""
    if len(kek_id) != KEK_ID_BYTES:
        raise EnvelopeError(f"a KEK id is {KEK_ID_BYTES} bytes, got {len(kek_id)}")
    if len(nonce) != NONCE_BYTES:
        raise EnvelopeError(f"a wrap nonce is {NONCE_BYTES} bytes, got {len(nonce)}")
    if len(sealed) != SEALED_BYTES:
        raise EnvelopeError(
            f"a sealed data key is {SEALED_BYTES} bytes (32-byte key + tag), got {len(sealed)}"
        )
    return MAGIC + kek_id + nonce + sealed


def unpack_blob(blob: bytes) -> tuple[bytes, bytes, bytes]:
    """``(kek_id, nonce, sealed)`` of a blob; :class:`EnvelopeError` if it is not one."""
    if len(blob) != BLOB_BYTES or not blob.startswith(MAGIC):
        raise EnvelopeError(
            f"not a fivesafes wrapped key (expected {BLOB_BYTES} bytes starting {MAGIC!r})"
        )
    at = len(MAGIC)
    kek_id = blob[at : at + KEK_ID_BYTES]
    at += KEK_ID_BYTES
    nonce = blob[at : at + NONCE_BYTES]
    return kek_id, nonce, blob[at + NONCE_BYTES :]


def software_seal(kek: bytes, nonce: bytes, data_key: bytes, aad: bytes) -> bytes:
    """AES-256-GCM of ``data_key`` under a KEK this process holds (local and test stores).

    The same computation a token performs with ``CKM_AES_GCM``, so blobs are portable.
    """
    if len(kek) != DATA_KEY_BYTES:
        raise EnvelopeError("the key-encryption key must be 32 bytes (AES-256)")
    return AESGCM(kek).encrypt(nonce, data_key, aad)


def software_open(kek: bytes, nonce: bytes, sealed: bytes, aad: bytes, name: str) -> bytes:
    """The data key sealed by :func:`software_seal`; :class:`EnvelopeError` naming ``name``."""
    if len(kek) != DATA_KEY_BYTES:
        raise EnvelopeError("the key-encryption key must be 32 bytes (AES-256)")
    try:
        return AESGCM(kek).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise EnvelopeError(
            f"wrapped key {name!r} does not authenticate: corrupt, or wrapped as another key"
        ) from None
