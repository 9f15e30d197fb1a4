"""grant_is_live() is decide()'s own grant rule: the two never disagree.

They did on revocation: decide() ignored a ``revoked_at`` later than its clock (a
revocation stamped by a server whose clock runs ahead) while the grant was shown as not
live, so a grant listed as revoked could still be used.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from fivesafes.access.decide import GRANT_REVOKED, Resource, decide
from fivesafes.access.facts import grant_facts, project_facts, subject_of
from fivesafes.access.grants import grant_is_live
from fivesafes.access.models import Grant, Project, ProjectMember, ProjectState
from fivesafes.access.policy import Action, load_access_policy
from fivesafes.identity.models import Role, User

POLICY = load_access_policy(Path(__file__).resolve().parents[3] / "policies" / "access.yaml")
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MEMBER = User(id=uuid.uuid4(), username="r1", role=Role.RESEARCHER, is_active=True)


def _grant(
    *,
    revoked_at: datetime | None = None,
    expires_at: datetime = NOW + timedelta(days=30),
    state: ProjectState = ProjectState.ACTIVE,
    start: date = date(2025, 1, 1),
    end: date = date(2025, 12, 31),
) -> Grant:
    project = Project(
        id=1, state=state, start_date=start, end_date=end, lead_id=MEMBER.id, members=[]
    )
    project.members.append(ProjectMember(user_id=MEMBER.id))
    return Grant(id=3, project=project, expires_at=expires_at, revoked_at=revoked_at)


CASES = {
    "live": _grant(),
    "revoked before now": _grant(revoked_at=NOW - timedelta(seconds=1)),
    "revoked at now": _grant(revoked_at=NOW),
    "revoked by a clock ahead of ours": _grant(revoked_at=NOW + timedelta(seconds=2)),
    "expired": _grant(expires_at=NOW),
    "project ended": _grant(end=date(2025, 5, 31)),
    "project not started": _grant(start=date(2025, 6, 2)),
    "project not active": _grant(state=ProjectState.PROPOSED),
}


@pytest.mark.parametrize("name", list(CASES))
def test_grant_is_live_agrees_with_decide_for_a_member(name: str) -> None:
    grant = CASES[name]
    resource = Resource(project=project_facts(grant.project), grant=grant_facts(grant))
    decision = decide(subject_of(MEMBER), Action.GRANT_USE, resource, POLICY, NOW)
    assert grant_is_live(grant, NOW) is decision.allowed
    assert decision.allowed is (name == "live")


def test_a_revocation_stamped_ahead_of_the_clock_still_refuses_use() -> None:
    grant = CASES["revoked by a clock ahead of ours"]
    resource = Resource(project=project_facts(grant.project), grant=grant_facts(grant))
    decision = decide(subject_of(MEMBER), Action.GRANT_USE, resource, POLICY, NOW)
    assert (decision.allowed, decision.rule) == (False, GRANT_REVOKED)
