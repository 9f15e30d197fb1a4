"""What the close-out tests share: a release made, an attestation body, audit reads."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select

from fivesafes.audit.models import AuditEvent
from fivesafes.db import session_scope, utcnow
from tests.factories.release_world import World


def released(world: World, project: str = "a", who: str = "a") -> tuple[int, str]:
    """A grant for ``project`` and one completed release under it: (grant id, release id)."""
    grant = world.grant(project, requester=who)
    response = world.client.get(
        f"/grants/{grant}/data", params={"format": "csv"}, headers=world.people[who].auth
    )
    assert response.status_code == 200, response.text
    return grant, response.headers["X-Release-Id"]


def attestation(release_ids: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "release_ids": release_ids,
        "destroyed_by": "Dr R A, principal investigator",
        "destroyed_on": utcnow().date().isoformat(),
        "method": "Deleted from the project share and the laptop; recycle bin emptied",
        "copies": ["project share", "laptop LT-042"],
        "accept_declaration": True,
        "signed_name": "R A",
    }
    body.update(overrides)
    return body


def close(world: World, project: str = "a", who: str = "a") -> Any:
    return world.client.post(
        f"/projects/{world.projects[project]}/close",
        json={"reason": "The study finished early."},
        headers=world.people[who].auth,
    )


def events(world: World, action: str) -> list[AuditEvent]:
    with session_scope(world.factory) as session:
        found = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        ).all()
        session.expunge_all()
        return list(found)


def details(event: AuditEvent) -> dict[str, Any]:
    value = event.details
    return json.loads(value) if isinstance(value, str) else dict(value)


def today() -> date:
    return utcnow().date()
