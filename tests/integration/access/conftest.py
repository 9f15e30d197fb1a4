"""Fixtures for access tests: the app (without its background lifespan) and people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.policy import AccessPolicy
from fivesafes.app import create_app
from fivesafes.config import Settings
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role, User
from tests.integration.access.helpers import TRAIL, make_user, shipped_policy


@pytest.fixture
def policy() -> AccessPolicy:
    return shipped_policy()


@pytest.fixture
def client(settings: Settings) -> TestClient:
    # No `with`: the lifespan (checkpoints, ingestion runner) is not what is under test.
    return TestClient(create_app(settings))


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


def person(session: Session, role: Role, prefix: str | None = None) -> Person:
    user = make_user(session, role, prefix)
    secret = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
    return Person(user, secret)


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
