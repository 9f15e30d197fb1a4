"""HKDF-SHA256 sub-keys, so one stored master key yields many independent keys.

Release-time pseudonyms are re-keyed per project with ``derive_key(pseudonym, "project",
project_id)``: two projects cannot link their extracts, yet nothing extra is stored.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"fivesafes/hkdf/v1"


def derive_key(master: bytes, purpose: str, context: str | bytes = b"", length: int = 32) -> bytes:
    """A sub-key of ``master`` bound to ``purpose`` and ``context`` (RFC 5869 HKDF-SHA256).

    ``purpose`` names what the key is for (``"pseudonym"``, ``"project"``); ``context``
    distinguishes instances (a column namespace, a project id). Both go into HKDF's info
    with a separator so that ("ab", "c") and ("a", "bc") give different keys.
    """
    if len(master) < 16:
        raise ValueError("master key must be at least 16 bytes")
    if not purpose or "\x00" in purpose:
        raise ValueError("purpose must be a non-empty string without NUL")
    ctx = context.encode("utf-8") if isinstance(context, str) else context
    info = purpose.encode("utf-8") + b"\x00" + len(ctx).to_bytes(4, "big") + ctx
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=info).derive(master)
