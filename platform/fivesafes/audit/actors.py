"""Who an event's actor is, for the people reading the trail: a username, not an id.

Events store the actor as an id (a user's UUID, ``os:<account>`` for a command run at the
server's shell, nothing for an anonymous attempt), never a name: the chain must not
change when a person's account does, and the rows outlive the accounts. Names are
resolved when the trail is read, once for a page or an export batch (one query, not one
per row), here, so the API, the pages, the CSV and the CLI all show the same name.

The users table belongs to :mod:`fivesafes.identity`, which sits above this package, so
the reader that looks names up is handed in (:data:`UsernameLookup`; the entry points
pass ``identity.directory.usernames``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from fivesafes.audit.models import AuditEvent

#: ``{user id: username}`` for those of the given ids that are users' (one query).
UsernameLookup = Callable[[Session, Iterable[str]], Mapping[str, str]]

OPERATOR_PREFIX = "os:"
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class ActorNames:
    """The usernames behind the actor ids of some events."""

    usernames: Mapping[str, str] = field(default_factory=dict)

    def username(self, actor_id: str | None) -> str | None:
        """The fivesafes username, or None (no actor, an operator, or no such user)."""
        return self.usernames.get(actor_id) if actor_id else None

    def label(self, actor_id: str | None) -> str:
        """What a person reads: the username; ``os:<account>`` for the server's shell
        (already a name, and kept distinct from a fivesafes user of the same name);
        ``anonymous``; or the bare id of a user that no longer exists."""
        if actor_id is None:
            return ANONYMOUS
        return self.usernames.get(actor_id, actor_id)


def resolve(session: Session, lookup: UsernameLookup, events: Iterable[AuditEvent]) -> ActorNames:
    """The names of the actors of ``events``, looked up together."""
    ids = {e.actor_id for e in events if e.actor_id and not e.actor_id.startswith(OPERATOR_PREFIX)}
    return ActorNames(dict(lookup(session, ids)) if ids else {})
