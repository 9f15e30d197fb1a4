"""Keyed pseudonyms: HMAC-SHA256 over a normalised identifier, never a plain or salted hash.

An NHS number has about 10^9 possible values, so an unkeyed (even salted) hash is
reversed by enumerating them; without the key an HMAC cannot be. Callers normalise first
(``"943 476 5919"`` and ``"9434765919"`` are one patient) so that the pseudonym is stable.
"""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa

from fivesafes.keys.batch_hmac import BatchHmacSha256, hex_prefixes
from fivesafes.keys.derivation import derive_key

_BLOCK = 64  # SHA-256 block size


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer states computed once.

    Identical output to ``hmac.digest(key, msg, "sha256")`` at about a quarter of the cost
    per message: the engine computes two per row, hundreds of thousands of rows a second.
    """

    __slots__ = ("_inner", "_key", "_outer")

    def __init__(self, key: bytes) -> None:
        self._key = key
        padded = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def __reduce__(self) -> tuple[object, ...]:
        return (HmacSha256, (self._key,))


#: Pseudonyms are the first 128 bits of the HMAC in lower-case hex: fixed length, no
#: realistic collisions among the ~10^9 values of any identifier we handle.
PSEUDONYM_HEX_CHARS = 32


class Pseudonymiser:
    """Pseudonyms for one identifier namespace under one key.

    The namespace (``"nhs_number"``, a column name) selects an HKDF sub-key, so equal
    strings from different kinds of identifier never share a pseudonym. It pickles as its
    slots (the sub-key's HMAC and the namespace): workers receive the derived key, not the
    master, and need nothing more.
    """

    __slots__ = ("_batch", "_mac", "namespace")

    def __init__(self, master: bytes, namespace: str) -> None:
        self.namespace = namespace
        subkey = derive_key(master, "pseudonym", namespace)
        self._mac = HmacSha256(subkey)
        self._batch = BatchHmacSha256(subkey)

    def __call__(self, normalised: str) -> str:
        """The pseudonym of an already-normalised identifier."""
        return self._mac.digest(normalised.encode("utf-8"))[:16].hex()

    def many_array(self, normalised: pa.StringArray) -> pa.StringArray:
        """The pseudonyms of a column of normalised identifiers at once (null stays null).

        Equal, value for value, to calling the pseudonymiser on each: the engine's
        vectorised path (see :mod:`fivesafes.keys.batch_hmac`).
        """
        return hex_prefixes(self._batch.digests(normalised), PSEUDONYM_HEX_CHARS // 2)

    def matches(self, normalised: str, pseudonym: str) -> bool:
        """Whether ``pseudonym`` belongs to ``normalised`` (constant-time comparison)."""
        return hmac.compare_digest(self(normalised), pseudonym)
