"""Fixtures for access tests: the app (without its background lifespan) and people
(``Person`` and ``person`` are the shared factories of :mod:`tests.factories.people`)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.policy import AccessPolicy
from fivesafes.app import create_app
from fivesafes.config import Settings
from fivesafes.identity.models import Role
from tests.factories.people import Person, person
from tests.integration.access.helpers import shipped_policy


@pytest.fixture
def policy() -> AccessPolicy:
    return shipped_policy()


@pytest.fixture
def client(settings: Settings) -> TestClient:
    # No `with`: the lifespan (checkpoints, ingestion runner) is not what is under test.
    return TestClient(create_app(settings))


@pytest.fixture
def people(session_factory: sessionmaker[Session]) -> dict[str, Person]:
    with session_factory() as session:
        found = {
            "lead": person(session, Role.RESEARCHER, "lead"),
            "member": person(session, Role.RESEARCHER, "member"),
            "outsider": person(session, Role.RESEARCHER, "outsider"),
            "officer1": person(session, Role.GOVERNANCE, "gov1"),
            "officer2": person(session, Role.GOVERNANCE, "gov2"),
            "uploader": person(session, Role.UPLOADER, "up"),
            "admin": person(session, Role.ADMIN, "admin"),
        }
        session.commit()
    return found
