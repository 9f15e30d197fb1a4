"""Who acts, in which transaction, under which policy, and when.

Every access service takes these first: ``(session, trail, policy, user, ...)`` when it
writes (and audits), ``(session, policy, user, ...)`` when it only reads, and ``now``.
The API's permit and the CLI's ``--as`` both hold them as an :class:`Acting`, and call a
service as ``service.review_request(*acting.writing, ..., now=acting.now)``; the newer
ones (``add_member``, ``remove_member``, ``review_with_verdict``) take the Acting itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from fivesafes.access.policy import AccessPolicy
from fivesafes.audit.trail import AuditTrail
from fivesafes.identity.models import User


@dataclass(frozen=True, slots=True)
class Acting:
    session: Session
    trail: AuditTrail
    policy: AccessPolicy
    user: User
    now: datetime

    @property
    def writing(self) -> tuple[Session, AuditTrail, AccessPolicy, User]:
        """The leading arguments of an access service that writes (and audits)."""
        return self.session, self.trail, self.policy, self.user

    @property
    def reading(self) -> tuple[Session, AccessPolicy, User]:
        """The leading arguments of an access service that only reads."""
        return self.session, self.policy, self.user
