"""Prepare a demo installation idempotently: running `make demo` twice is harmless."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from fivesafes import schema
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.errors import NotFoundError
from fivesafes.identity import service
from fivesafes.identity.models import Role
from fivesafes.provisioning import ensure_keys

SAMPLE_EXTRACT = Path(__file__).with_name("sample-extract.csv")

DEMO_USERS: tuple[tuple[str, Role, str], ...] = (
    ("admin", Role.ADMIN, "Demo administrator"),
    ("uploader", Role.UPLOADER, "Demo trust data manager"),
    ("researcher", Role.RESEARCHER, "Demo university researcher"),
    ("governance", Role.GOVERNANCE, "Demo information governance officer"),
)


@dataclass(slots=True)
class DemoState:
    tokens: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def prepare_demo(settings: Settings) -> DemoState:
    """Migrate, create the demo users if missing and give each a fresh one-day token."""
    if not settings.database_url.startswith("sqlite"):
        raise NotFoundError("the demo runs on the embedded SQLite database only")
    state = DemoState()
    schema.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        trail = AuditTrail.for_operator()
        with session_scope(make_session_factory(engine)) as session:
            if ensure_keys(settings):
                trail.record(session, "keys.init")
                state.notes.append(f"created local keys in {settings.keystore_path}")
            for username, role, full_name in DEMO_USERS:
                try:
                    user = service.get_user(session, username)
                except NotFoundError:
                    user = service.create_user(session, trail, username, role, full_name=full_name)
                issued = service.issue_token(session, trail, user, "demo", timedelta(days=1))
                state.tokens[username] = issued.secret
    finally:
        engine.dispose()
    return state
