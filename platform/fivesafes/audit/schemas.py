"""Response bodies for the audit API."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from fivesafes.audit.actors import ActorNames
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.review import EventsPage


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    occurred_at: datetime
    actor_id: str | None
    #: The actor's username, looked up when read (not part of the hashed record); null
    #: for an operator at the server's shell (``os:<account>``), anonymous attempts and
    #: ids no user has.
    actor_username: str | None = None
    actor_role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    request_id: str | None
    client_addr: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @field_validator("details", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_cursor: int | None


def event_out(event: AuditEvent, names: ActorNames) -> AuditEventOut:
    out = AuditEventOut.model_validate(event)
    return out.model_copy(update={"actor_username": names.username(event.actor_id)})


def page_out(page: EventsPage) -> AuditPage:
    """A page as the API returns it and the audit web page shows it (details parsed,
    actors' usernames beside their ids)."""
    return AuditPage(
        events=[event_out(e, page.names) for e in page.events], next_cursor=page.next_cursor
    )


class VerifyOut(BaseModel):
    ok: bool
    events_verified: int
    head_seq: int
    first_bad_seq: int | None
    damage: str | None
    message: str
    checkpoint_seq: int | None
    checkpoints_checked: int = 0
    sources: list[str] = []


class CheckpointOut(BaseModel):
    format: str
    seq: int
    hash: str
    created_at: str
    public_key: str
    signature: str
