"""One audited action as its caller states it: the value every recorder receives.

Services say ``trail.record(session, "action", target_type=..., details=...)``;
:class:`~fivesafes.audit.trail.AuditTrail` turns that into an :class:`AuditEntry`, and the
entry is what flows on: through the injected recorder into the chain, where the acting
context (who, from where) and the chain's position (sequence, time, link) are added.
Naming the fields once here is why the recorders' signatures no longer repeat them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = frozenset({"success", "denied", "failed"})
_FORBIDDEN_DETAIL_KEYS = frozenset({"token", "secret", "password", "nhs_number", "name"})


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What was done, to what, how it ended, and the counts, codes and ids that say more.

    Checked when made, so an entry that could not be stored never exists: an unknown
    outcome, or details under a key that names a secret or a person (a guard rail, not the
    protection itself: callers pass counts, codes and ids, never values).
    """

    action: str
    outcome: str = "success"
    target_type: str | None = None
    target_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown audit outcome {self.outcome!r}")
        bad = _FORBIDDEN_DETAIL_KEYS.intersection(self.details)
        if bad:
            raise ValueError(f"audit details must not carry {sorted(bad)}")
