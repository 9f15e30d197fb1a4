"""Who is acting, and from where: carried from the entry point to every audit record."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Actor:
    """The subject of an audited action. ``id`` is a user id or a labelled system actor."""

    id: str | None
    role: str | None

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(id=None, role=None)

    @classmethod
    def operator(cls) -> Actor:
        """Someone at the server's shell running the CLI, named by their OS account."""
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
        return cls(id=f"os:{name}"[:64], role="operator")


@dataclass(frozen=True, slots=True)
class AuditContext:
    """The request-level facts every event of one request shares."""

    actor: Actor
    request_id: str | None = None
    client_addr: str | None = None

    def as_actor(self, actor: Actor) -> AuditContext:
        return replace(self, actor=actor)
