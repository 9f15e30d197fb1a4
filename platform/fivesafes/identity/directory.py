"""Usernames for the ids pages show: audit actors, requesters, uploaders, deciders.

Audit rows and dataset versions hold user ids as text (no foreign keys: audit rows outlive
users), so the governance pages turn them into names here, in one query per page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.identity.models import User


def usernames(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """``{id: username}`` for the ids that are user ids (labelled actors such as ``os:…``
    and ids no user has are simply absent)."""
    parsed = []
    for value in set(ids):
        try:
            parsed.append(uuid.UUID(value))
        except ValueError:
            continue
    if not parsed:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(parsed)))
    return {str(i): name for i, name in rows}
