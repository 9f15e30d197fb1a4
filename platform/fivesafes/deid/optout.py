"""National Data Opt-out matching inside the engine.

The list is held as keyed HMACs of normalised NHS numbers (see
``fivesafes.ingestion.optouts``); a worker computes the same HMAC for each row's patient
and looks it up. Raw numbers are never compared with, or stored next to, the list.

After a pseudonym rotation the list's digests are at a later generation: each generation
g > 1 is ``HMAC-SHA256(derive_key(remap key g, PURPOSE), digest_(g-1) as bytes)``. That is
one-way, which is enough: opt-outs are only ever matched forwards, from a raw NHS number.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

#: Output column added by datasets whose policy is exempt: releases exclude flagged rows.
OPTED_OUT_COLUMN = "nddo_opted_out"


def optout_digest(key: bytes, normalised_nhs_number: str) -> str:
    return hmac.new(key, normalised_nhs_number.encode("ascii"), hashlib.sha256).hexdigest()


def carry_digest(chain: tuple[bytes, ...], digest: str) -> str:
    """A digest carried forward by each generation's opt-out key in ``chain``, in order."""
    for key in chain:
        digest = hmac.new(key, bytes.fromhex(digest), hashlib.sha256).hexdigest()
    return digest


@dataclass(frozen=True, slots=True)
class OptOutFilter:
    """The opt-out list in force, as digests, with the key that made them (picklable).

    ``list_id`` names the stored list the digests came from: the report and a hand-over
    manifest record it, so ingestion can tell output filtered by the list in force from
    output filtered by an older list, or by none.
    """

    key: bytes
    digests: frozenset[str]
    list_id: int | None = None

    def contains(self, normalised_nhs_number: str) -> bool:
        return optout_digest(self.key, normalised_nhs_number) in self.digests


@dataclass(frozen=True, slots=True)
class ChainedOptOutFilter(OptOutFilter):
    """A list at generation 2 or later: each row's digest is carried forward to it.

    A subclass, so that a list at generation 1 keeps :meth:`OptOutFilter.contains` as it
    was (no extra work per row).
    """

    chain: tuple[bytes, ...] = ()

    def contains(self, normalised_nhs_number: str) -> bool:
        digest = carry_digest(self.chain, optout_digest(self.key, normalised_nhs_number))
        return digest in self.digests


def optout_filter(
    key: bytes, digests: frozenset[str], chain: tuple[bytes, ...], list_id: int | None = None
) -> OptOutFilter:
    """The filter for a list whose digests were carried forward by ``chain`` (may be empty)."""
    if not chain:
        return OptOutFilter(key, digests, list_id)
    return ChainedOptOutFilter(key, digests, list_id, chain)
