"""National Data Opt-out matching inside the engine.

The list is held as keyed HMACs of normalised NHS numbers (see
``fivesafes.ingestion.optouts``); a worker computes the same HMAC for each row's patient
and looks it up. Raw numbers are never compared with, or stored next to, the list.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

#: Output column added by datasets whose policy is exempt: releases exclude flagged rows.
OPTED_OUT_COLUMN = "nddo_opted_out"


def optout_digest(key: bytes, normalised_nhs_number: str) -> str:
    return hmac.new(key, normalised_nhs_number.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class OptOutFilter:
    """The opt-out list in force, as digests, with the key that made them (picklable)."""

    key: bytes
    digests: frozenset[str]

    def contains(self, normalised_nhs_number: str) -> bool:
        return optout_digest(self.key, normalised_nhs_number) in self.digests
