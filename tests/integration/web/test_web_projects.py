"""Projects in the web pages, in process, on both dialects: a researcher proposes one (the
form names each problem and writes nothing), governance approves or rejects it, adds and
removes members and revokes a grant with a reason the members then read; a researcher
cannot decide, and a researcher outside the project cannot see it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.models import Grant, LawfulBasis, Project, ProjectState
from fivesafes.access.models import SpecialCategoryCondition as Condition
from fivesafes.access.policy import AccessPolicy
from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.config import Settings
from fivesafes.db import session_scope, utcnow
from fivesafes.identity.models import Role
from fivesafes.web.routes_projects import gdpr_label, usernames_listed
from tests.factories.access import approved_grant
from tests.factories.people import Person, person
from tests.factories.web import CSRF, logged_in
from tests.integration.access.helpers import (
    make_dataset,
    make_project,
    request_body,
    shipped_policy,
)


@dataclass
class World:
    app: Any
    factory: sessionmaker[Session]
    policy: AccessPolicy
    people: dict[str, Person]
    dataset: str

    def log_in(self, who: str) -> Browser:
        return Browser(logged_in(self.app, self.people[who].token))

    def name(self, who: str) -> str:
        return self.people[who].username

    def project(self, project_id: int) -> Project:
        with self.factory() as session:
            found = session.get(Project, project_id)
            assert found is not None
            _ = [m.user.username for m in found.members]
            return found

    def members(self, project_id: int) -> set[str]:
        with self.factory() as session:
            found = session.get(Project, project_id)
            assert found is not None
            return {m.user.username for m in found.members}

    def active_project(self, *members: str) -> int:
        with session_scope(self.factory) as session:
            officer = session.merge(self.people["officer1"].user)
            lead = session.merge(self.people["researcher"].user)
            others = [session.merge(self.people[m].user) for m in members]
            return make_project(session, self.policy, officer, lead, others, now=utcnow()).id

    def grant(self, project_id: int) -> int:
        body = request_body(_Named(self.dataset), row_filter=None)  # type: ignore[arg-type]
        with session_scope(self.factory) as session:
            return approved_grant(
                session,
                self.policy,
                self.people["researcher"].user,
                self.people["officer1"].user,
                project_id,
                body,
                utcnow(),
            )

    def events(self, action: str, outcome: str = "success") -> int:
        with self.factory() as session:
            query = select(func.count()).where(
                AuditEvent.action == action, AuditEvent.outcome == outcome
            )
            return int(session.scalar(query) or 0)


@dataclass
class _Named:
    name: str


@dataclass
class Browser:
    """A logged-in page client: each form is posted with the CSRF token of a page."""

    client: TestClient

    def get(self, path: str) -> Any:
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True) -> Any:
        fields = dict(data or {})
        if csrf:
            token = CSRF.search(self.client.get("/web/", follow_redirects=True).text)
            assert token
            fields["csrf_token"] = token.group(1)
        return self.client.post(path, data=fields, follow_redirects=False)


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[World]:
    app = create_app(settings)
    with session_scope(session_factory) as session:
        people = {
            "researcher": person(session, Role.RESEARCHER, "res"),
            "colleague": person(session, Role.RESEARCHER, "col"),
            "outsider": person(session, Role.RESEARCHER, "out"),
            "officer1": person(session, Role.GOVERNANCE, "gov1"),
            "officer2": person(session, Role.GOVERNANCE, "gov2"),
            "uploader": person(session, Role.UPLOADER, "up"),
        }
        dataset = make_dataset(session).name
    yield World(app, session_factory, shipped_policy(), people, dataset)
    app.state.engine.dispose()


def _proposal(world: World, **overrides: str) -> dict[str, str]:
    today = utcnow().date()
    fields = {
        "title": "Falls after discharge",
        "purpose": "Estimate how often older patients fall within 90 days of discharge.",
        "lay_summary": "How often older people fall soon after they leave hospital.",
        "ethics_ref": "REC 25/LO/0042",
        "dsa_ref": "DSA-2025-003",
        "lawful_basis": LawfulBasis.PUBLIC_TASK.value,
        "special_category_condition": Condition.RESEARCH.value,
        "start_date": today.isoformat(),
        "end_date": (today + timedelta(days=365)).isoformat(),
        "members": f"{world.name('colleague')}, ",
    }
    fields.update(overrides)
    return fields


def _proposed(world: World) -> int:
    done = world.log_in("researcher").post("/web/research/projects", _proposal(world))
    assert done.status_code == 303, done.text
    match = re.fullmatch(r"/web/projects/(\d+)\?notice=project_proposed", done.headers["location"])
    assert match, done.headers["location"]
    return int(match.group(1))


def _project_count(world: World) -> int:
    with world.factory() as session:
        return int(session.scalar(select(func.count()).select_from(Project)) or 0)


# --------------------------------------------------------------------------- proposing


def test_the_form_offers_every_lawful_basis_and_condition(world: World) -> None:
    page = world.log_in("researcher").get("/web/research/projects/new")
    assert page.status_code == 200
    for member in (*LawfulBasis, *Condition):
        assert f'<option value="{member.value}">{gdpr_label(member)}</option>' in page.text
    home = world.log_in("researcher").get("/web/research")
    assert 'href="/web/research/projects/new"' in home.text


def test_a_researcher_proposes_a_project_they_lead(world: World) -> None:
    project_id = _proposed(world)
    project = world.project(project_id)
    assert project.state is ProjectState.PROPOSED
    assert project.lead_id == world.people["researcher"].user.id
    assert world.members(project_id) == {world.name("researcher"), world.name("colleague")}
    assert world.events("project.propose") == 1
    page = world.log_in("researcher").get(f"/web/projects/{project_id}?notice=project_proposed")
    assert page.status_code == 200
    assert "Falls after discharge" in page.text
    assert "waits for the governance team" in page.text
    assert "Article 9(2)(j): archiving research statistics" in page.text
    assert "Your project was proposed" in page.text
    colleague = world.log_in("colleague").get(f"/web/projects/{project_id}")
    assert colleague.status_code == 200  # a member sees it too


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"title": ""}, "Title: String should have at least 3 characters"),
        ({"purpose": "short"}, "Purpose: String should have at least 10 characters"),
        ({"lawful_basis": ""}, "Lawful basis: Input should be"),
        ({"special_category_condition": "9.9.z-made-up"}, "Special category condition:"),
        ({"start_date": ""}, "Start date:"),
        ({"end_date": "2020-01-01"}, "form: Value error, end_date is before start_date"),
        ({"members": "nobody-here"}, "no user &#39;nobody-here&#39;"),
    ],
)
def test_a_bad_proposal_is_shown_again_with_the_problem_and_writes_nothing(
    world: World, overrides: dict[str, str], message: str
) -> None:
    browser = world.log_in("researcher")
    sent = _proposal(world, **{"title": "Kept on the form", **overrides})
    page = browser.post("/web/research/projects", sent)
    assert page.status_code == 422, page.text
    assert "There is a problem" in page.text
    assert message in page.text
    if "title" not in overrides:
        assert 'value="Kept on the form"' in page.text  # what was typed is kept
    assert _project_count(world) == 0
    assert world.events("web.project_propose", "failed") == 1
    assert world.events("project.propose") == 0


def test_a_proposal_without_its_csrf_token_is_refused_unread(world: World) -> None:
    browser = world.log_in("researcher")
    refused = browser.post("/web/research/projects", _proposal(world), csrf=False)
    assert refused.status_code == 403
    assert _project_count(world) == 0


def test_only_researchers_propose(world: World) -> None:
    officer = world.log_in("officer1")
    assert officer.get("/web/research/projects/new").status_code == 403
    assert officer.post("/web/research/projects", _proposal(world)).status_code == 403
    assert _project_count(world) == 0
    assert world.events("web.project_propose", "denied") == 1


# --------------------------------------------------------------------------- deciding


def test_governance_approves_a_proposal_from_the_list(world: World) -> None:
    project_id = _proposed(world)
    officer = world.log_in("officer1")
    listed = officer.get("/web/governance/projects")
    assert listed.status_code == 200
    assert f'id="project-{project_id}"' in listed.text
    assert f'action="/web/governance/projects/{project_id}/approve"' in listed.text
    assert f'formaction="/web/governance/projects/{project_id}/reject"' in listed.text
    assert 'href="/web/governance/projects"' in listed.text  # in the governance menu
    done = officer.post(
        f"/web/governance/projects/{project_id}/approve", {"reason": "Ethics and DSA checked."}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/web/governance/projects?notice=project_approved"
    project = world.project(project_id)
    assert project.state is ProjectState.ACTIVE
    assert project.decision_reason == "Ethics and DSA checked."
    assert world.events("project.approve") == 1
    after = officer.get(done.headers["location"])
    assert "No proposals are waiting" in after.text
    assert f'href="/web/projects/{project_id}"' in after.text
    page = world.log_in("researcher").get(f"/web/projects/{project_id}")
    assert f'href="/web/research/projects/{project_id}/request"' in page.text


def test_a_rejection_needs_a_reason_and_the_researcher_reads_it(world: World) -> None:
    project_id = _proposed(world)
    officer = world.log_in("officer2")
    short = officer.post(f"/web/governance/projects/{project_id}/reject", {"reason": "no"})
    assert short.status_code == 422
    assert "Reason: String should have at least 3 characters" in short.text
    assert f'id="project-{project_id}"' in short.text  # the list, with the form again
    assert world.project(project_id).state is ProjectState.PROPOSED
    assert world.events("web.governance.project_reject", "failed") == 1
    reason = "The DSA does not cover data linkage."
    done = officer.post(f"/web/governance/projects/{project_id}/reject", {"reason": reason})
    assert done.headers["location"] == "/web/governance/projects?notice=project_rejected"
    assert world.project(project_id).state is ProjectState.REJECTED
    page = world.log_in("researcher").get(f"/web/projects/{project_id}")
    assert "Rejected" in page.text
    assert reason in page.text
    assert 'href="/web/research/projects/' not in page.text  # no requests on it
    again = officer.post(f"/web/governance/projects/{project_id}/approve", {"reason": "Oops."})
    assert again.status_code == 403  # decided once: project_not_proposed
    assert world.project(project_id).state is ProjectState.REJECTED


def test_a_researcher_cannot_approve_or_see_the_governance_list(world: World) -> None:
    project_id = _proposed(world)
    researcher = world.log_in("researcher")
    assert researcher.get("/web/governance/projects").status_code == 403
    refused = researcher.post(
        f"/web/governance/projects/{project_id}/approve", {"reason": "I approve of myself."}
    )
    assert refused.status_code == 403
    assert "You do not have access" in refused.text
    assert world.project(project_id).state is ProjectState.PROPOSED
    assert world.events("web.governance.project_approve", "denied") == 1
    assert world.events("project.approve") == 0


def test_a_non_member_cannot_see_the_project(world: World) -> None:
    project_id = world.active_project()
    outsider = world.log_in("outsider")
    page = outsider.get(f"/web/projects/{project_id}")
    assert page.status_code == 403
    assert "Readmissions after hip fracture" not in page.text
    assert world.events("web.project", "denied") == 1
    assert world.log_in("uploader").get(f"/web/projects/{project_id}").status_code == 403
    assert outsider.get("/web/projects/999999").status_code == 404
    assert world.log_in("officer1").get(f"/web/projects/{project_id}").status_code == 200


# ------------------------------------------------------------------ members and grants


def test_governance_adds_and_removes_members(world: World) -> None:
    project_id = world.active_project()
    officer = world.log_in("officer1")
    page = officer.get(f"/web/projects/{project_id}")
    assert f'action="/web/governance/projects/{project_id}/members"' in page.text
    base = f"/web/governance/projects/{project_id}/members"
    added = officer.post(base, {"username": world.name("colleague").upper()})
    assert added.status_code == 303
    assert added.headers["location"] == f"/web/projects/{project_id}?notice=member_added"
    assert world.name("colleague") in world.members(project_id)
    assert world.events("project.member_add") == 1

    refusals = (
        (world.name("colleague"), 409, "is already a member"),
        ("nobody-at-all", 422, "no user &#39;nobody-at-all&#39;"),
        (world.name("officer2"), 422, "only researchers join projects"),
        ("", 422, "Username:"),
    )
    for username, status, message in refusals:
        refused = officer.post(base, {"username": username})
        assert refused.status_code == status, username
        assert message in refused.text, username
        assert "There is a problem" in refused.text  # on the project page, not raw JSON
    assert world.events("web.governance.member_add", "failed") == len(refusals)

    removed = officer.post(f"{base}/{world.name('colleague')}/remove")
    assert removed.headers["location"] == f"/web/projects/{project_id}?notice=member_removed"
    assert world.members(project_id) == {world.name("researcher")}
    assert world.events("project.member_remove") == 1
    lead = officer.post(f"{base}/{world.name('researcher')}/remove")
    assert lead.status_code == 409
    assert "the lead cannot be removed" in lead.text
    gone = officer.post(f"{base}/{world.name('colleague')}/remove")
    assert gone.status_code == 404
    assert "is not a member" in gone.text
    assert world.members(project_id) == {world.name("researcher")}

    researcher = world.log_in("researcher")
    assert researcher.post(base, {"username": world.name("outsider")}).status_code == 403
    assert world.name("outsider") not in world.members(project_id)
    assert f'action="{base}"' not in researcher.get(f"/web/projects/{project_id}").text


def test_governance_revokes_a_grant_and_the_members_read_why(world: World) -> None:
    project_id = world.active_project("colleague")
    grant_id = world.grant(project_id)
    officer = world.log_in("officer2")
    page = officer.get(f"/web/projects/{project_id}")
    assert f'action="/web/governance/grants/{grant_id}/revoke"' in page.text
    path = f"/web/governance/grants/{grant_id}/revoke"
    blank = officer.post(path, {"reason": "  "})
    assert blank.status_code == 422
    assert "Reason: String should have at least 3 characters" in blank.text
    with world.factory() as session:
        assert session.get(Grant, grant_id).revoked_at is None  # type: ignore[union-attr]

    reason = "The data sharing agreement was suspended."
    done = officer.post(path, {"reason": reason})
    assert done.headers["location"] == f"/web/projects/{project_id}?notice=grant_revoked"
    with world.factory() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        assert grant.revoked_at is not None
        assert grant.revoke_reason == reason
        assert grant.revoked_by == world.people["officer2"].user.id
    assert world.events("grant.revoke") == 1
    after = officer.get(f"/web/projects/{project_id}")
    assert f'action="{path}"' not in after.text  # revoked: nothing left to revoke

    for member in ("researcher", "colleague"):
        browser = world.log_in(member)
        project_page = browser.get(f"/web/projects/{project_id}")
        assert f"Reason: {reason}" in project_page.text
        assert '<span class="tag tag--approved">approved</span>' in project_page.text  # its request
        assert world.name("officer2") in project_page.text
        assert f"Reason: {reason}" in browser.get("/web/research").text
    check = TestClient(world.app, base_url="https://testserver").get(
        f"/grants/{grant_id}/check", headers=world.people["researcher"].auth
    )
    assert check.status_code == 403
    assert "revoked" in check.json()["error"]["message"]
    shown = TestClient(world.app, base_url="https://testserver").get(
        f"/grants/{grant_id}", headers=world.people["colleague"].auth
    )
    assert shown.json()["revoke_reason"] == reason


def test_a_researcher_cannot_revoke(world: World) -> None:
    project_id = world.active_project()
    grant_id = world.grant(project_id)
    researcher = world.log_in("researcher")
    assert (
        f"/web/governance/grants/{grant_id}/revoke"
        not in researcher.get(f"/web/projects/{project_id}").text
    )
    refused = researcher.post(
        f"/web/governance/grants/{grant_id}/revoke", {"reason": "I am done with it."}
    )
    assert refused.status_code == 403
    with world.factory() as session:
        assert session.get(Grant, grant_id).revoked_at is None  # type: ignore[union-attr]
    assert world.events("web.governance.grant_revoke", "denied") == 1


# ---------------------------------------------------------------------------- helpers


def test_usernames_listed_splits_on_commas_spaces_and_lines() -> None:
    assert usernames_listed(" ann, bob;carl\n dee  ann ") == ["ann", "bob", "carl", "dee"]
    assert usernames_listed("Ann") == ["ann"]
    assert usernames_listed(" , ") == []


def test_gdpr_labels_name_article_paragraph_and_point() -> None:
    assert gdpr_label(LawfulBasis.PUBLIC_TASK) == "Article 6(1)(e): public task"
    assert gdpr_label(Condition.HEALTH_OR_SOCIAL_CARE) == "Article 9(2)(h): health social care"
