"""The crate's detached signature: Ed25519 over the metadata hash and the file hashes.

Signed with the KeyStore's audit signing key, the key ``fivesafes keys export-public``
publishes, so an assessor checks crates with the same PEM file as the audit checkpoints.
A crate signature can never be taken for a checkpoint signature (or the reverse): the
signed message starts with the domain tag ``fivesafes-ro-crate-signature-v1\\n`` and a
checkpoint's message is bare RFC 8785 JSON (which starts with ``{``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, Final

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from fivesafes.errors import InvalidInputError
from fivesafes.keys.store import KeyStore, ed25519_verifies, public_key_fingerprint

DOMAIN: Final = b"fivesafes-ro-crate-signature-v1\n"
ALGORITHM: Final = "Ed25519"
METADATA_NAME: Final = "ro-crate-metadata.json"
SIGNATURE_NAME: Final = "ro-crate-signature.json"


def signed_content(
    kind: str, subject: dict[str, Any], metadata: bytes, files: dict[str, str]
) -> dict[str, Any]:
    """What the signature covers: the crate kind, its release or project id, the
    SHA-256 of the metadata file and of every other file, by member name."""
    return {
        "kind": kind,
        **subject,
        "metadata_sha256": hashlib.sha256(metadata).hexdigest(),
        "files": dict(sorted(files.items())),
    }


def signing_message(signed: dict[str, Any]) -> bytes:
    return DOMAIN + rfc8785.dumps(signed)


def sign(keystore: KeyStore, signed: dict[str, Any]) -> bytes:
    """The ``ro-crate-signature.json`` member's bytes."""
    signature = keystore.sign(signing_message(signed))
    document = {
        "algorithm": ALGORITHM,
        "key_fingerprint": public_key_fingerprint(keystore.verification_key()),
        "signed": signed,
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    return json.dumps(document, indent=2, sort_keys=True).encode("utf-8")


def raw_public_key(pem: bytes) -> bytes:
    """The raw Ed25519 key of a PEM public key file; a clear error for anything else."""
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"not a PEM public key: {exc}", code="invalid_public_key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInputError("the public key is not an Ed25519 key", code="invalid_public_key")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def signature_valid(public_key: bytes, document: dict[str, Any]) -> bool:
    """Whether ``document`` (a parsed signature member) was signed by ``public_key``."""
    if document.get("algorithm") != ALGORITHM or not isinstance(document.get("signed"), dict):
        return False
    try:
        signature = base64.b64decode(str(document.get("signature")), validate=True)
        message = signing_message(document["signed"])
    except (binascii.Error, ValueError, TypeError):
        return False
    return ed25519_verifies(public_key, signature, message)
