"""The handle services use to audit: who is acting, and which recorder writes the events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from fivesafes.audit.context import Actor, AuditContext
from fivesafes.audit.entry import AuditEntry
from fivesafes.audit.recorder import AuditRecorder, record


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """Bound to one request or command; services call :meth:`record` and nothing else."""

    context: AuditContext
    recorder: AuditRecorder = record

    @classmethod
    def for_operator(cls) -> AuditTrail:
        """The trail of a CLI command run by someone at the server's shell."""
        return cls(AuditContext(actor=Actor.operator()))

    def acting_as(self, actor: Actor) -> AuditTrail:
        return replace(self, context=self.context.as_actor(actor))

    def record(
        self,
        session: Session,
        action: str,
        *,
        outcome: str = "success",
        target_type: str | None = None,
        target_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record ``action`` as this trail's actor: the one spelled-out form of an entry."""
        entry = AuditEntry(action, outcome, target_type, target_id, details or {})
        self.recorder(session, self.context, entry)
