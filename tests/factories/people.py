"""People: a user of a role with a bearer token to act as them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role, User
from fivesafes.identity.service import actor_of
from tests.integration.access.helpers import TRAIL, make_user


@dataclass
class Person:
    user: User
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def trail(self) -> AuditTrail:
        """The operator's trail acting as this person (what they do is theirs)."""
        return TRAIL.acting_as(actor_of(self.user))


def person(session: Session, role: Role, prefix: str | None = None) -> Person:
    user = make_user(session, role, prefix)
    secret = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
    return Person(user, secret)
