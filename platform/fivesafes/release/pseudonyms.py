"""Project-specific pseudonyms and date shifts, computed at release time.

Each project gets its own key, derived with HKDF from the platform pseudonym key
(``derive_key(pseudonym, "project", "<project id>")``). A released pseudonym is
``HMAC(project key, stored pseudonym)``: the stored value is stable across dataset versions
(same platform key, same namespace), so each project's values are stable across downloads
and versions, while two projects' values never coincide (different keys) and cannot be
joined without the platform key.

One HMAC per patient gives both the released pseudonym (bytes 0-15) and the patient's
project date offset (bytes 16-23): the halves of a PRF's output are independent, so the
pseudonym a researcher sees says nothing about the offset. Only the stored pseudonym goes
in, never an identifier; nothing here is stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from fivesafes.keys.derivation import derive_key
from fivesafes.keys.pseudonym import PSEUDONYM_HEX_CHARS, HmacSha256

_CACHE_LIMIT = 200_000  # patients remembered between batches (bounded memory)


class ProjectPseudonyms:
    """Re-keys stored pseudonyms for one project, with each patient's date offset."""

    __slots__ = ("_cache", "_inner", "_outer", "max_days", "project_id")

    def __init__(self, pseudonym_master: bytes, project_id: int, max_days: int = 180) -> None:
        if max_days < 1:
            raise ValueError("max_days must be at least 1")
        self.project_id = project_id
        self.max_days = max_days
        mac = HmacSha256(derive_key(pseudonym_master, "project", str(project_id)))
        # The precomputed inner/outer states, held directly for the per-value loop.
        self._inner = mac._inner
        self._outer = mac._outer
        self._cache: dict[str, bytes] = {}

    def _digest(self, stored: str) -> bytes:
        inner = self._inner.copy()
        inner.update(stored.encode("ascii", "surrogateescape"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def digests(self, stored: Sequence[str | None]) -> list[bytes | None]:
        """One digest per value (None stays None), memoised per patient within a bound."""
        cache = self._cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        get, digest = cache.get, self._digest
        out: list[bytes | None] = []
        append = out.append
        for value in stored:
            if value is None:
                append(None)
                continue
            found = get(value)
            if found is None:
                found = cache[value] = digest(value)
            append(found)
        return out

    @staticmethod
    def pseudonyms(digests: Sequence[bytes | None]) -> list[str | None]:
        """The released pseudonyms: 32 lower-case hex characters, like stored ones."""
        half = PSEUDONYM_HEX_CHARS // 2
        return [d[:half].hex() if d is not None else None for d in digests]

    def offsets(self, digests: Sequence[bytes | None]) -> list[int | None]:
        """Each patient's project date offset in days: in [-max, -1] or [1, max], never 0."""
        span, max_days = 2 * self.max_days, self.max_days
        out: list[int | None] = []
        for d in digests:
            if d is None:
                out.append(None)
                continue
            value = int.from_bytes(d[16:24], "big") % span
            out.append(value - max_days if value < max_days else value - max_days + 1)
        return out

    def rekey(self, stored: Sequence[str | None]) -> list[str | None]:
        """Released pseudonyms for a column of stored pseudonyms."""
        return self.pseudonyms(self.digests(stored))
