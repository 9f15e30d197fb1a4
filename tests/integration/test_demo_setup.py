"""`make demo`'s set-up (``prepare_demo``), run twice on one database: the users with a
token and password each (two governance officers among them), one active project led by
the demo researcher, and a sensitive dataset's request approvable at once by the two
officers. The second run creates no second project and no second user."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.access import service as access
from fivesafes.access.models import Project, ProjectState, RequestState
from fivesafes.access.policy import load_access_policy
from fivesafes.access.schemas import RequestIn
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings, load_settings
from fivesafes.db import make_engine, make_session_factory, session_scope, utcnow
from fivesafes.demo.setup import (
    DEMO_PROJECT_TITLE,
    DEMO_USERS,
    REVIEWED_DATASET,
    prepare_demo,
)
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role, User

# Ingests the sample extract (spaCy, Presidio): in `make test`, not the inner loop.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TRAIL = AuditTrail.for_operator()


def _demo_projects(session: Session) -> list[Project]:
    officer = identity.get_user(session, "governance")
    policy = load_access_policy(REPO / "policies" / "access.yaml")
    found = access.list_projects(session, policy, officer, utcnow())
    return [p for p in found if p.title == DEMO_PROJECT_TITLE]


def _user_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


@pytest.fixture
def demo_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(REPO)  # the demo reads policies/ from the checkout, as `make demo` does
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'demo.db'}",
        keystore_path=tmp_path / "keys",
        spool_path=tmp_path / "spool",
    )


def test_the_demo_has_two_officers_and_one_active_project_however_often_it_runs(
    demo_settings: Settings,
) -> None:
    first = prepare_demo(demo_settings)
    for officer in ("governance", "governance2"):
        assert first.tokens[officer].startswith("fs_")
        assert first.passwords[officer]
    assert any("created the active project" in note for note in first.notes)
    engine = make_engine(demo_settings.database_url)
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            officers = [identity.get_user(session, n) for n in ("governance", "governance2")]
            assert all(o.role is Role.GOVERNANCE and o.is_active for o in officers)
            assert officers[0].id != officers[1].id
            (project,) = _demo_projects(session)
            assert project.state is ProjectState.ACTIVE
            assert project.lead.username == "researcher"
            assert [m.user.username for m in project.members] == ["researcher"]
            assert project.start_date <= utcnow().date() <= project.end_date
            project_id, users = project.id, _user_count(session)
        assert users == len(DEMO_USERS)

        second = prepare_demo(demo_settings)
        assert second.tokens["governance2"] != first.tokens["governance2"]  # fresh each run
        assert not any("created the active project" in note for note in second.notes)
        with factory() as session:
            assert [p.id for p in _demo_projects(session)] == [project_id]
            assert _user_count(session) == len(DEMO_USERS)
            creates = select(func.count()).where(AuditEvent.action == "project.create")
            assert session.scalar(creates) == 1  # on the trail once: the second run made none
            policy = load_access_policy(REPO / "policies" / "access.yaml")
            researcher = identity.get_user(session, "researcher")
            mine = access.list_projects(session, policy, researcher, utcnow())
            assert [p.id for p in mine] == [project_id]
    finally:
        engine.dispose()


def test_a_sensitive_request_in_the_demo_project_is_approved_by_the_two_officers(
    demo_settings: Settings,
) -> None:
    prepare_demo(demo_settings)
    policy = load_access_policy(REPO / "policies" / "access.yaml")
    engine = make_engine(demo_settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            (project,) = _demo_projects(session)
            now = utcnow()
            body = RequestIn(
                dataset=REVIEWED_DATASET,
                columns=["sex", "admission_date"],
                justification="Readmission intervals need the admission dates.",
            )
            researcher = identity.get_user(session, "researcher")
            request = access.create_request(
                session, TRAIL, policy, researcher, project_id=project.id, body=body, now=now
            )
            assert request.sensitivity == "sensitive"
            assert policy.approvers_needed(request.sensitivity) == 2
            for officer, state in (("governance", RequestState.PENDING), ("governance2", None)):
                reviewed = access.review_request(
                    session,
                    TRAIL,
                    policy,
                    identity.get_user(session, officer),
                    request_id=request.id,
                    approve=True,
                    reason="Matches the demo project's purpose.",
                    now=now,
                )
                if state is not None:
                    assert reviewed.state is state
            assert reviewed.state is RequestState.APPROVED
            assert reviewed.grant is not None
    finally:
        engine.dispose()
