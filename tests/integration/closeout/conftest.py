"""The release world (an ingested dataset, two researchers' projects, an officer) for the
close-out tests, on SQLite and PostgreSQL, plus a second officer."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.config import Settings
from fivesafes.db import session_scope
from fivesafes.identity.models import Role
from tests.factories.people import person
from tests.factories.release_world import World, build


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    built = build(settings, session_factory, tmp_path)
    with session_scope(session_factory) as session:
        built.people["officer2"] = person(session, Role.GOVERNANCE, "gov2")
    return built
