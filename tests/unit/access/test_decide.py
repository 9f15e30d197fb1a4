"""decide(): one pure function, table-tested rule by rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from fivesafes.access import decide as d
from fivesafes.access.decide import (
    GrantFacts,
    ProjectFacts,
    RequestFacts,
    Resource,
    Subject,
    decide,
)
from fivesafes.access.models import ProjectState, RequestState
from fivesafes.access.policy import Action, Scope, load_access_policy
from fivesafes.identity.models import Role

POLICY = load_access_policy(Path(__file__).resolve().parents[3] / "policies" / "access.yaml")
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

RESEARCHER = Subject("r1", Role.RESEARCHER)
OUTSIDER = Subject("r9", Role.RESEARCHER)
OFFICER = Subject("g1", Role.GOVERNANCE)
ADMIN = Subject("a1", Role.ADMIN)
UPLOADER = Subject("u1", Role.UPLOADER)

PROJECT = ProjectFacts(
    id=1,
    state=ProjectState.ACTIVE,
    start_date=date(2025, 1, 1),
    end_date=date(2025, 12, 31),
    lead_id="r0",
    member_ids=frozenset({"r0", "r1"}),
)
REQUEST = RequestFacts(id=7, state=RequestState.PENDING, requester_id="r1")
GRANT = GrantFacts(id=3, expires_at=NOW + timedelta(days=30))
ON_PROJECT = Resource(project=PROJECT)
ON_REQUEST = Resource(project=PROJECT, request=REQUEST)
ON_GRANT = Resource(project=PROJECT, request=REQUEST, grant=GRANT)


@pytest.mark.parametrize(
    ("subject", "action", "resource", "allowed", "rule"),
    [
        (RESEARCHER, Action.PROJECT_VIEW, ON_PROJECT, True, "roles.researcher.project.view"),
        (OUTSIDER, Action.PROJECT_VIEW, ON_PROJECT, False, d.NOT_MEMBER),
        (OFFICER, Action.PROJECT_VIEW, ON_PROJECT, True, "roles.governance.project.view"),
        (ADMIN, Action.PROJECT_VIEW, ON_PROJECT, False, d.NOT_PERMITTED),
        (UPLOADER, Action.PROJECT_LIST, Resource(), False, d.NOT_PERMITTED),
        (RESEARCHER, Action.PROJECT_VIEW, Resource(), False, d.NO_PROJECT),
        (RESEARCHER, Action.REQUEST_CREATE, ON_PROJECT, True, "roles.researcher.request.create"),
        (OFFICER, Action.REQUEST_CREATE, ON_PROJECT, False, d.NOT_PERMITTED),
        (OFFICER, Action.REQUEST_APPROVE, ON_REQUEST, True, "roles.governance.request.approve"),
        (RESEARCHER, Action.REQUEST_APPROVE, ON_REQUEST, False, d.NOT_PERMITTED),
        (RESEARCHER, Action.GRANT_USE, ON_GRANT, True, "roles.researcher.grant.use"),
        (OUTSIDER, Action.GRANT_USE, ON_GRANT, False, d.NOT_MEMBER),
        (OFFICER, Action.GRANT_USE, ON_GRANT, False, d.NOT_PERMITTED),
        (OFFICER, Action.GRANT_REVOKE, ON_GRANT, True, "roles.governance.grant.revoke"),
        (OFFICER, Action.ACCESS_EXPLAIN, Resource(), True, "roles.governance.access.explain"),
        (RESEARCHER, Action.ACCESS_EXPLAIN, Resource(), False, d.NOT_PERMITTED),
        (
            replace(RESEARCHER, active=False),
            Action.PROJECT_VIEW,
            ON_PROJECT,
            False,
            d.SUBJECT_DISABLED,
        ),
    ],
)
def test_roles_and_scopes(
    subject: Subject, action: Action, resource: Resource, allowed: bool, rule: str
) -> None:
    decision = decide(subject, action, resource, POLICY, NOW)
    assert (decision.allowed, decision.rule) == (allowed, rule)
    assert decision.reason


def test_separation_of_duties_holds_even_if_the_policy_lets_researchers_approve() -> None:
    roles = dict(POLICY.roles)
    roles[Role.RESEARCHER] = {**roles[Role.RESEARCHER], Action.REQUEST_APPROVE: Scope.ANY}
    lax = POLICY.model_copy(update={"roles": roles})
    own = decide(RESEARCHER, Action.REQUEST_APPROVE, ON_REQUEST, lax, NOW)
    assert (own.allowed, own.rule) == (False, d.SEPARATION_OF_DUTIES)
    assert decide(OUTSIDER, Action.REQUEST_APPROVE, ON_REQUEST, lax, NOW).allowed


@pytest.mark.parametrize(
    ("resource", "rule"),
    [
        (
            replace(ON_REQUEST, request=replace(REQUEST, state=RequestState.APPROVED)),
            d.REQUEST_NOT_PENDING,
        ),
        (
            replace(ON_REQUEST, request=replace(REQUEST, reviewer_ids=frozenset({"g1"}))),
            d.ALREADY_REVIEWED,
        ),
        (
            replace(ON_REQUEST, project=replace(PROJECT, end_date=date(2025, 5, 31))),
            d.PROJECT_ENDED,
        ),
        (
            replace(ON_REQUEST, project=replace(PROJECT, state=ProjectState.REJECTED)),
            d.PROJECT_NOT_ACTIVE,
        ),
    ],
)
def test_review_invariants(resource: Resource, rule: str) -> None:
    decision = decide(OFFICER, Action.REQUEST_APPROVE, resource, POLICY, NOW)
    assert (decision.allowed, decision.rule) == (False, rule)


@pytest.mark.parametrize(
    ("grant", "project", "now", "rule"),
    [
        (replace(GRANT, revoked_at=NOW - timedelta(seconds=1)), PROJECT, NOW, d.GRANT_REVOKED),
        (GRANT, PROJECT, GRANT.expires_at, d.GRANT_EXPIRED),
        (GRANT, PROJECT, GRANT.expires_at - timedelta(microseconds=1), None),
        (GRANT, replace(PROJECT, end_date=date(2025, 5, 31)), NOW, d.PROJECT_ENDED),
        (GRANT, replace(PROJECT, end_date=date(2025, 6, 1)), NOW, None),  # last day counts
        (GRANT, replace(PROJECT, start_date=date(2025, 6, 2)), NOW, d.PROJECT_NOT_STARTED),
        (GRANT, replace(PROJECT, state=ProjectState.PROPOSED), NOW, d.PROJECT_NOT_ACTIVE),
    ],
)
def test_grant_use_is_checked_against_the_clock_every_time(
    grant: GrantFacts, project: ProjectFacts, now: datetime, rule: str | None
) -> None:
    resource = Resource(project=project, request=REQUEST, grant=grant)
    decision = decide(RESEARCHER, Action.GRANT_USE, resource, POLICY, now)
    assert decision.allowed is (rule is None)
    if rule:
        assert decision.rule == rule


def test_project_approval_needs_a_proposed_project() -> None:
    proposed = Resource(project=replace(PROJECT, state=ProjectState.PROPOSED))
    assert decide(OFFICER, Action.PROJECT_APPROVE, proposed, POLICY, NOW).allowed
    again = decide(OFFICER, Action.PROJECT_APPROVE, ON_PROJECT, POLICY, NOW)
    assert (again.allowed, again.rule) == (False, d.PROJECT_NOT_PROPOSED)


def test_a_lead_scope_means_the_lead_only() -> None:
    roles = dict(POLICY.roles)
    roles[Role.RESEARCHER] = {**roles[Role.RESEARCHER], Action.PROJECT_MEMBERS: Scope.LEAD}
    policy = POLICY.model_copy(update={"roles": roles})
    lead = Subject("r0", Role.RESEARCHER)
    assert decide(lead, Action.PROJECT_MEMBERS, ON_PROJECT, policy, NOW).allowed
    member = decide(RESEARCHER, Action.PROJECT_MEMBERS, ON_PROJECT, policy, NOW)
    assert (member.allowed, member.rule) == (False, d.NOT_LEAD)
