"""decide() for close-out: who may close, attest and review; the states; separation of
duties; and the refusal of a closing project's grants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from fivesafes.access import decide as d
from fivesafes.access.decide import (
    AttestationFacts,
    GrantFacts,
    ProjectFacts,
    Resource,
    Subject,
    decide,
)
from fivesafes.access.models import ProjectState
from fivesafes.access.policy import Action, load_access_policy
from fivesafes.identity.models import Role

POLICY = load_access_policy(Path(__file__).resolve().parents[3] / "policies" / "access.yaml")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LEAD = Subject("r0", Role.RESEARCHER)
MEMBER = Subject("r1", Role.RESEARCHER)
OFFICER = Subject("g1", Role.GOVERNANCE)
OFFICER2 = Subject("g2", Role.GOVERNANCE)
ADMIN = Subject("a1", Role.ADMIN)
ACTIVE = ProjectFacts(
    id=4,
    state=ProjectState.ACTIVE,
    start_date=date(2026, 1, 1),
    end_date=date(2026, 12, 31),
    lead_id="r0",
    member_ids=frozenset({"r0", "r1"}),
)
CLOSING = replace(ACTIVE, state=ProjectState.CLOSING)
CLOSED = replace(ACTIVE, state=ProjectState.CLOSED)
BY_G1 = AttestationFacts(id=9, submitted_by="g1", awaiting_review=True)
BY_LEAD = AttestationFacts(id=9, submitted_by="r0", awaiting_review=True)


@pytest.mark.parametrize(
    ("subject", "action", "resource", "allowed", "rule"),
    [
        (LEAD, Action.PROJECT_CLOSE, Resource(ACTIVE), True, "roles.researcher.project.close"),
        (MEMBER, Action.PROJECT_CLOSE, Resource(ACTIVE), False, d.NOT_LEAD),
        (OFFICER, Action.PROJECT_CLOSE, Resource(ACTIVE), True, "roles.governance.project.close"),
        (ADMIN, Action.PROJECT_CLOSE, Resource(ACTIVE), False, d.NOT_PERMITTED),
        (OFFICER, Action.PROJECT_CLOSE, Resource(CLOSING), False, d.PROJECT_NOT_ACTIVE),
        (
            OFFICER,
            Action.PROJECT_MEMBERS,
            Resource(ACTIVE),
            True,
            "roles.governance.project.members",
        ),
        (OFFICER, Action.PROJECT_MEMBERS, Resource(CLOSING), False, d.PROJECT_NOT_ACTIVE),
        (OFFICER, Action.PROJECT_MEMBERS, Resource(CLOSED), False, d.PROJECT_NOT_ACTIVE),
        (LEAD, Action.PROJECT_CLOSE, Resource(CLOSED), False, d.PROJECT_NOT_ACTIVE),
        (
            LEAD,
            Action.ATTESTATION_SUBMIT,
            Resource(CLOSING),
            True,
            "roles.researcher.attestation.submit",
        ),
        (LEAD, Action.ATTESTATION_SUBMIT, Resource(ACTIVE), False, d.PROJECT_NOT_CLOSING),
        (LEAD, Action.ATTESTATION_SUBMIT, Resource(CLOSED), False, d.PROJECT_NOT_CLOSING),
        (MEMBER, Action.ATTESTATION_SUBMIT, Resource(CLOSING), False, d.NOT_LEAD),
        (OFFICER, Action.ATTESTATION_SUBMIT, Resource(CLOSING), False, d.NOT_PERMITTED),
        (
            OFFICER,
            Action.ATTESTATION_REVIEW,
            Resource(CLOSING, attestation=BY_LEAD),
            True,
            "roles.governance.attestation.review",
        ),
        (
            LEAD,
            Action.ATTESTATION_REVIEW,
            Resource(CLOSING, attestation=BY_LEAD),
            False,
            d.NOT_PERMITTED,
        ),
        (
            OFFICER,
            Action.ATTESTATION_REVIEW,
            Resource(CLOSING, attestation=BY_G1),
            False,
            d.SEPARATION_OF_DUTIES,
        ),
        (
            OFFICER2,
            Action.ATTESTATION_REVIEW,
            Resource(CLOSING, attestation=replace(BY_LEAD, awaiting_review=False)),
            False,
            d.ATTESTATION_NOT_SUBMITTED,
        ),
        (
            OFFICER,
            Action.ATTESTATION_REVIEW,
            Resource(CLOSED, attestation=BY_LEAD),
            False,
            d.PROJECT_NOT_CLOSING,
        ),
        (OFFICER, Action.ATTESTATION_QUEUE, Resource(), True, "roles.governance.attestation.queue"),
        (LEAD, Action.ATTESTATION_QUEUE, Resource(), False, d.NOT_PERMITTED),
    ],
)
def test_closeout_decisions(
    subject: Subject, action: Action, resource: Resource, allowed: bool, rule: str
) -> None:
    decision = decide(subject, action, resource, POLICY, NOW)
    assert (decision.allowed, decision.rule) == (allowed, rule)


def test_a_closing_projects_grant_is_refused_saying_what_to_do() -> None:
    grant = GrantFacts(id=3, expires_at=NOW + timedelta(days=30))
    decision = decide(MEMBER, Action.GRANT_USE, Resource(CLOSING, grant=grant), POLICY, NOW)
    assert not decision.allowed
    assert decision.rule == d.PROJECT_NOT_ACTIVE  # the stable rule id of any non-active one
    assert "closing" in decision.reason
    assert "destruction attestation" in decision.reason
    live = decide(MEMBER, Action.GRANT_USE, Resource(ACTIVE, grant=grant), POLICY, NOW)
    assert live.allowed
