"""The release world (:mod:`tests.factories.release_world`) for crate tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.config import Settings
from tests.factories.release_world import World, build


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    return build(settings, session_factory, tmp_path)
