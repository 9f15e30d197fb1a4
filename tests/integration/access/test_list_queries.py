"""Lists of projects, requests and grants cost the same number of SQL statements however
many rows they show (no query per row: grants, reviews, datasets and members are loaded
with the list), through the API and the researcher's page alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access import service
from fivesafes.access.models import Project
from fivesafes.access.policy import AccessPolicy
from fivesafes.datasets.models import Dataset
from fivesafes.db import utcnow
from tests.integration.access.conftest import Person
from tests.integration.access.helpers import TRAIL, make_dataset, make_project, make_request


@contextmanager
def _counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


class World:
    """One project with a growing number of requests, every other one approved."""

    def __init__(
        self, factory: sessionmaker[Session], policy: AccessPolicy, people: dict[str, Person]
    ) -> None:
        self.factory, self.policy, self.people = factory, policy, people
        with factory() as session:
            officer, lead = people["officer1"].user, people["lead"].user
            project = make_project(
                session, policy, officer, lead, [people["member"].user], now=utcnow()
            )
            dataset = make_dataset(session)
            session.commit()
            self.project_id, self.dataset_id = project.id, dataset.id
        self.requests = 0

    def add_requests(self, count: int) -> None:
        with self.factory() as session:
            project = session.get(Project, self.project_id)
            dataset = session.get(Dataset, self.dataset_id)
            assert project is not None
            assert dataset is not None
            for _ in range(count):
                lead = session.merge(self.people["lead"].user)
                request = make_request(session, self.policy, lead, project, dataset, now=utcnow())
                if self.requests % 2 == 0:
                    service.review_request(
                        session,
                        TRAIL,
                        self.policy,
                        session.merge(self.people["officer1"].user),
                        request_id=request.id,
                        approve=True,
                        reason="Matches the protocol.",
                        now=utcnow(),
                    )
                self.requests += 1
            session.commit()


LISTS: dict[str, tuple[str, Callable[[World], str]]] = {
    "request queue": ("officer1", lambda w: "/requests"),
    "pending queue": ("officer1", lambda w: "/requests?state=pending"),
    "project requests": ("lead", lambda w: f"/projects/{w.project_id}/requests"),
    "grants": ("lead", lambda w: "/grants"),
    "projects": ("lead", lambda w: "/projects"),
    "researcher page": ("lead", lambda w: "/web/research"),
}


@pytest.mark.parametrize("name", list(LISTS))
def test_a_list_costs_the_same_statements_for_2_or_7_rows(
    name: str,
    client: TestClient,
    session_factory: sessionmaker[Session],
    policy: AccessPolicy,
    people: dict[str, Person],
) -> None:
    who, path_of = LISTS[name]
    world = World(session_factory, policy, people)
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    counts = []
    for more in (2, 5):
        world.add_requests(more)
        with _counting(engine) as statements:
            response = client.get(path_of(world), headers=people[who].auth)
        assert response.status_code == 200, response.text
        counts.append(len(statements))
    assert counts[0] == counts[1], f"{name}: {counts[0]} statements for 2 rows, {counts[1]} for 7"


def test_the_counted_lists_really_show_the_rows(
    client: TestClient,
    session_factory: sessionmaker[Session],
    policy: AccessPolicy,
    people: dict[str, Person],
) -> None:
    world = World(session_factory, policy, people)
    world.add_requests(4)
    shown = client.get("/requests", headers=people["officer1"].auth).json()
    assert len(shown) == 4
    assert [r["grant_id"] is not None for r in shown] == [True, False, True, False]
    assert all(r["dataset"] and r["reviews"] is not None for r in shown)
    assert len(client.get("/grants", headers=people["lead"].auth).json()) == 2
