"""The governance policy pages, in process, on both dialects: each dataset's policy
versions (number, hash, sensitivity, who loaded it, when), one version's text and the diff
between two, escaped, with added and removed lines marked; only governance sees them."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.config import Settings
from fivesafes.datasets import policy_versions
from fivesafes.db import session_scope
from fivesafes.identity.models import Role
from tests.factories.people import Person, person
from tests.integration.access.helpers import TRAIL

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
V1 = """\
# Admissions: first version.
dataset: admissions
version: 1
sensitivity: standard
columns:
  nhs_number: {type: nhs_number, role: patient_id}
  sex: {type: string, role: keep}
"""
# v2: sensitive, a column added, and a comment a browser would run if it were not escaped.
V2 = """\
# Admissions: second version. <script>alert("x")</script> & more
dataset: admissions
version: 2
sensitivity: sensitive
columns:
  nhs_number: {type: nhs_number, role: patient_id}
  sex: {type: string, role: keep}
  ward: {type: string, role: keep}
"""


@dataclass
class World:
    client: TestClient
    people: dict[str, Person]

    def log_in(self, who: str) -> TestClient:
        token = CSRF.search(self.client.get("/web/login").text)
        assert token
        response = self.client.post(
            "/web/login/token",
            data={"csrf_token": token.group(1), "token": self.people[who].token},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return self.client


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    with session_scope(session_factory) as session:
        people = {
            "governance": person(session, Role.GOVERNANCE),
            "admin": person(session, Role.ADMIN),
            "researcher": person(session, Role.RESEARCHER),
        }
        for number, text in enumerate((V1, V2), start=1):
            path = tmp_path / f"admissions-{number}.yaml"
            path.write_text(text)
            policy_versions.load_policy_files_as(session, TRAIL, people["admin"].username, [path])
    return World(TestClient(create_app(settings), base_url="https://testserver"), people)


def test_the_versions_page_lists_each_version_and_who_loaded_it(world: World) -> None:
    client = world.log_in("governance")
    index = client.get("/web/governance/policies")
    assert index.status_code == 200
    assert 'href="/web/governance/datasets/admissions/policies"' in index.text
    assert 'href="/web/governance/policies"' in index.text  # in the governance menu
    page = client.get("/web/governance/datasets/admissions/policies")
    assert page.status_code == 200
    body = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    assert len(rows) == 2
    newest, first = rows
    admin = world.people["admin"].username
    assert ">v2<" in newest
    assert "sensitive" in newest
    assert admin in newest
    assert "changes from v1" in newest
    assert ">v1<" in first
    assert "standard" in first
    assert admin in first
    assert "os:" not in page.text


def test_the_diff_marks_added_and_removed_lines_and_escapes_the_text(world: World) -> None:
    client = world.log_in("governance")
    page = client.get("/web/governance/datasets/admissions/policies/diff?from=1&to=2")
    assert page.status_code == 200
    added = re.findall(
        r'<li class="diff-line diff-line--added">.*?<code>(.*?)</code>', page.text, re.S
    )
    removed = re.findall(
        r'<li class="diff-line diff-line--removed">.*?<code>(.*?)</code>', page.text, re.S
    )
    assert [html.unescape(x) for x in removed] == [
        "-# Admissions: first version.",
        "-version: 1",
        "-sensitivity: standard",
    ]
    assert [html.unescape(x) for x in added] == [
        '+# Admissions: second version. <script>alert("x")</script> & more',
        "+version: 2",
        "+sensitivity: sensitive",
        "+  ward: {type: string, role: keep}",
    ]
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;" in page.text
    assert "4</strong> lines added" in page.text
    assert "3</strong> lines removed" in page.text
    same = client.get("/web/governance/datasets/admissions/policies/diff?from=2&to=2")
    assert "identical" in same.text


def test_one_version_shows_its_text_as_loaded(world: World) -> None:
    client = world.log_in("governance")
    page = client.get("/web/governance/datasets/admissions/policies/2")
    assert page.status_code == 200
    shown = re.search(r'<pre class="policy-text"[^>]*>(.*?)</pre>', page.text, re.S)
    assert shown
    assert html.unescape(shown.group(1)) == V2
    assert "<script>alert" not in page.text
    assert world.people["admin"].username in page.text


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/web/governance/datasets/nothing/policies", 404, "no dataset"),
        ("/web/governance/datasets/admissions/policies/9", 404, "no policy version 9"),
        ("/web/governance/datasets/admissions/policies/diff?from=1&to=9", 404, "version 9"),
        ("/web/governance/datasets/admissions/policies/diff?from=1", 422, "to"),
        ("/web/governance/datasets/admissions/policies/diff?from=x&to=2", 422, "from"),
    ],
)
def test_bad_addresses_get_a_page_naming_the_problem(
    world: World, path: str, status: int, says: str
) -> None:
    page = world.log_in("governance").get(path)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert says in page.text


@pytest.mark.parametrize("who", ["researcher", "admin"])
def test_only_governance_sees_the_policy_pages(world: World, who: str) -> None:
    client = world.log_in(who)
    for path in (
        "/web/governance/policies",
        "/web/governance/datasets/admissions/policies",
        "/web/governance/datasets/admissions/policies/1",
        "/web/governance/datasets/admissions/policies/diff?from=1&to=2",
    ):
        assert client.get(path).status_code == 403, path


def test_nobody_logged_in_is_sent_to_log_in(world: World) -> None:
    page = world.client.get("/web/governance/datasets/admissions/policies", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/web/login?next=")
